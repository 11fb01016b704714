import { randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";

// ulid's default generator asks the kernel for one random byte per character (16 calls an id);
// drawing the same cryptographic bytes from a pool refilled 4 KiB at a time costs a fraction of it.
const pool = new Uint8Array(4096);
let used = pool.length;
function pooledRandom(): number {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  return (pool[used++] as number) / 256;
}

const next = monotonicFactory(pooledRandom);

/** Prefixed, time-sortable ids, as Stripe's: acct_01J…, sub_01J… */
export const ID_PREFIXES = {
  account: "acct",
  member: "mbr",
  subscription: "sub",
  planVersion: "planv",
  addOnVersion: "aov",
  meter: "mtr",
  event: "evt",
  apiKey: "key",
  quote: "qt",
  checkout: "co",
  invoice: "inv",
  invoiceLine: "il",
  creditNote: "cn",
  invoicePayment: "inpay",
  paymentMethod: "pm",
  scheduledChange: "sch",
  webhookEndpoint: "we",
  webhookDelivery: "whd",
  webhookAttempt: "wha",
  emailMessage: "em",
  prompt: "prm",
  promptEvent: "pev",
  playAction: "pact",
  crmTask: "task",
  testClock: "clock",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, at: Date = new Date()): string {
  return `${ID_PREFIXES[kind]}_${next(at.getTime())}`;
}
