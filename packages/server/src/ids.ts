import { monotonicFactory } from "ulid";

const next = monotonicFactory();

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
  invoicePayment: "inpay",
  paymentMethod: "pm",
  scheduledChange: "sch",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, at: Date = new Date()): string {
  return `${ID_PREFIXES[kind]}_${next(at.getTime())}`;
}
