import { count } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { accounts } from "../db/schema/index.ts";
import { createAccount } from "../services/accounts/accounts.ts";
import { createMember } from "../services/accounts/members.ts";
import { createSubscription } from "../services/subscriptions/subscriptions.ts";

/** A small deterministic PRNG (mulberry32), so the demo data is the same on every machine. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const COMPANIES = [
  "Acme",
  "Globex",
  "Initech",
  "Umbrella",
  "Hooli",
  "Stark",
  "Wayne",
  "Wonka",
  "Tyrell",
  "Cyberdyne",
  "Soylent",
  "Aperture",
  "Vandelay",
  "Pied Piper",
  "Dunder",
  "Gringotts",
];
const SUFFIXES = [
  "Labs",
  "Analytics",
  "Cloud",
  "Studio",
  "Systems",
  "Works",
  "Health",
  "Logistics",
  "Media",
  "Capital",
];
const INDUSTRIES = ["saas", "fintech", "health", "retail", "media", "logistics"];

/** Plan mix of the demo: most accounts free or starter, a long tail of pro and business. */
const PLAN_MIX: readonly [plan: string, weight: number][] = [
  ["free", 0.35],
  ["starter", 0.35],
  ["pro", 0.22],
  ["business", 0.08],
];

function weightedPick(mix: readonly [string, number][], roll: number): string {
  let remaining = roll;
  for (const [item, weight] of mix) {
    remaining -= weight;
    if (remaining < 0) return item;
  }
  return mix[0]?.[0] as string;
}

export interface DemoSeedResult {
  readonly seeded: boolean;
  readonly accounts: number;
}

/**
 * Seeds demo accounts, subscriptions and members once (an already populated database is left as
 * it is). Accounts are backdated over the past two years so periods and tenure look real.
 */
export async function seedDemo(db: Db, now: Date, total = 300): Promise<DemoSeedResult> {
  const [existing] = await db.select({ n: count() }).from(accounts);
  if ((existing?.n ?? 0) > 0) return { seeded: false, accounts: existing?.n ?? 0 };
  const random = prng(20261123);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  await db.transaction(async (tx) => {
    for (let i = 0; i < total; i++) {
      const createdAt = new Date(
        now.getTime() - Math.floor(random() * 730) * 86_400_000 - Math.floor(random() * 86_400) * 1000,
      );
      const name = `${pick(COMPANIES)} ${pick(SUFFIXES)}`;
      const account = await createAccount(
        tx,
        {
          external_id: `demo_${String(i + 1).padStart(4, "0")}`,
          name,
          properties: { industry: pick(INDUSTRIES), demo: true },
        },
        createdAt,
      );
      const plan = weightedPick(PLAN_MIX, random());
      const interval = plan !== "free" && random() < 0.3 ? "year" : "month";
      const included = { free: 3, starter: 5, pro: 10, business: 25 }[plan] ?? 3;
      const extra = plan === "free" ? 0 : Math.floor(random() ** 2 * (plan === "business" ? 120 : 12));
      const addOns = plan === "pro" && random() < 0.3 ? [{ key: "advanced_reporting", quantity: 1 }] : [];
      await createSubscription(
        tx,
        {
          account: account.id,
          plan,
          interval,
          seats: included + extra,
          add_ons: addOns,
          trial_days: 0,
          billing_cycle_anchor: createdAt.toISOString(),
        },
        createdAt,
      );
      const people = Math.min(included + extra, 1 + Math.floor(random() * (included + extra)));
      const domain = `${name.toLowerCase().replaceAll(" ", "")}${i}.example`;
      for (let p = 0; p < people; p++) {
        const active = p === 0 || random() < 0.85;
        await createMember(
          tx,
          account.id,
          {
            email: `${p === 0 ? "admin" : `user${p}`}@${domain}`,
            role: p === 0 ? "admin" : "member",
            status: active ? "active" : "invited",
            properties: {},
            ...(active ? { user_id: `${account.external_id}_u${p}` } : {}),
          },
          createdAt,
        );
      }
    }
  });
  return { seeded: true, accounts: total };
}
