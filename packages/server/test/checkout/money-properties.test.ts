import { type CatalogInput, validateCatalog } from "@uptier/core";
import { and, eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { anchorArb, randomCatalogArb } from "../../../core/src/testing/random-catalog.ts";
import { invoiceLines, invoices, subscriptionPeriods } from "../../src/db/schema/index.ts";
import { applyCatalog } from "../../src/services/catalog/apply.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { type BillingApi, chargesFor, customer, useBillingApi } from "../support/billing-harness.ts";

/**
 * The money rules over the HTTP API with a moving clock, on random catalogs (per-unit, graduated,
 * volume and package seats, $0 bases, add-ons of every model, monthly and annual, month-end
 * anchors): random changes, change-and-reverse pairs, switches of interval and renewal runs, each
 * charged by a checkout. Each run applies a catalog of its own (new versions of the same keys: a
 * subscription keeps the versions it bought) and ends its subscription.
 */
const api: BillingApi = useBillingApi();

interface Target {
  readonly plan: number;
  readonly interval: "month" | "year";
  readonly extra: number;
  readonly addOns: readonly number[];
}

type Step =
  | { readonly kind: "change"; readonly target: Target; readonly after: number; readonly renew: boolean }
  | { readonly kind: "pair"; readonly plan: number; readonly after: number; readonly renew: boolean };

const targetArb: fc.Arbitrary<Target> = fc.record({
  plan: fc.nat(2),
  interval: fc.constantFrom<"month" | "year">("month", "month", "year"),
  extra: fc.nat(5),
  addOns: fc.array(fc.nat(3), { maxLength: 2 }),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("change" as const),
    target: targetArb,
    after: fc.integer({ min: 1, max: 40 * 86_400 }),
    renew: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("pair" as const),
    plan: fc.nat(2),
    after: fc.integer({ min: 1, max: 40 * 86_400 }),
    renew: fc.boolean(),
  }),
);

interface Quote {
  readonly lines: { item: string; amount: number; period_end: string }[];
  readonly subtotal: number;
  readonly amount_due: number;
  readonly timing: string;
  readonly recurring: { after: { amount: number } };
  readonly next_invoice: { date: string };
}

/**
 * The most the credit cap may cut of a pair's credits in a period (docs/pricing-and-proration.md,
 * "The cap and one-line rounding"): ⌈k/2⌉ per item, k its one-line quantity changes since it was
 * last charged whole. Counted from outside, every quote that billed an item in one line counts as
 * one (a whole charge or credit counts too, and nothing resets), which can only raise the bound.
 */
class OneLineChanges {
  private readonly perPeriod = new Map<string, Map<string, number>>();
  add(q: Quote) {
    const lines = new Map<string, { count: number; end: string }>();
    for (const l of q.lines) {
      const known = lines.get(l.item);
      lines.set(l.item, { count: (known?.count ?? 0) + 1, end: new Date(l.period_end).toISOString() });
    }
    for (const [item, { count, end }] of lines) {
      if (count !== 1) continue;
      const items = this.perPeriod.get(end) ?? new Map<string, number>();
      items.set(item, (items.get(item) ?? 0) + 1);
      this.perPeriod.set(end, items);
    }
  }
  cutBound(periodEnd: string): number {
    const items = this.perPeriod.get(new Date(periodEnd).toISOString()) ?? new Map<string, number>();
    return [...items.values()].reduce((sum, k) => sum + Math.ceil(k / 2), 0);
  }
}

async function playRun(
  doc: CatalogInput,
  anchor: Date,
  start: Target,
  startAfter: number,
  steps: readonly Step[],
) {
  const validated = validateCatalog(doc);
  if (!validated.ok) throw new Error(JSON.stringify(validated.issues));
  const catalog = validated.catalog;
  const plans = Object.keys(catalog.plans);
  const addOns = Object.keys(catalog.add_ons);
  const fields = (t: Target) => {
    const plan = plans[t.plan % plans.length] as string;
    const keys = [...new Set(t.addOns.filter((i) => i < addOns.length).map((i) => addOns[i] as string))];
    return {
      plan,
      interval: t.interval,
      seats: Math.max(1, catalog.plans[plan]?.seats.included ?? 0) + t.extra,
      add_ons: keys.map((key, i) => ({ key, quantity: 1 + ((t.extra + i) % 3) })),
    };
  };
  api.clock.set(new Date(anchor.getTime() + startAfter * 1000).toISOString());
  await api.database.db.transaction((tx) => applyCatalog(tx, catalog, api.clock()));
  const first = fields(start);
  const c = await customer(api, first.plan, {
    interval: first.interval,
    seats: first.seats,
    add_ons: first.add_ons,
    billing_cycle_anchor: anchor.toISOString(),
  });
  const charged: Quote[] = [];
  let promised: Quote | null = null;
  const oneLine = new OneLineChanges();
  const buy = async (change: Record<string, unknown>): Promise<Quote | null> => {
    const response = await api.request("POST", "/v1/quotes", { account: c.account, ...change });
    if (response.statusCode !== 201) {
      expect(response.statusCode, response.body).toBeLessThan(500);
      return null;
    }
    const quote = response.json() as Quote;
    const done = await api.request("POST", "/v1/checkout", {
      quote: (quote as { id?: string }).id,
      member: c.admin,
    });
    expect(done.statusCode, done.body).toBe(200);
    charged.push(quote);
    promised = quote;
    oneLine.add(quote);
    return quote;
  };
  for (const step of steps) {
    api.clock.advance(step.after * 1000);
    if (step.renew) await renewSubscriptions(api.billing);
    if (step.kind === "change") {
      await buy(fields(step.target));
      continue;
    }
    // `before` is the subscription a read answers: a change whose instant has come is in force in it
    // (seed 813535649 once read the shape before the period end and bought its add-on back).
    const before = (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json();
    const bound = oneLine.cutBound(before.current_period_end);
    const there = await buy({ plan: plans[step.plan % plans.length] });
    if (!there) continue;
    const back = await buy({
      plan: before.plan,
      interval: before.interval,
      seats: before.seats,
      add_ons: before.add_ons.map((a: { key: string; quantity: number }) => ({
        key: a.key,
        quantity: a.quantity,
      })),
    });
    if (back && there.timing === "immediate" && back.timing === "immediate") {
      // docs/rules.md, periods 6: both apply now, so they net to exactly 0 — less only what the
      // cap cut of the forward credits, the rounding of earlier one-line changes — and the card
      // pays for the reverse no more than that (what the first charged or credited is in the balance)
      const net = there.subtotal + back.subtotal;
      expect(net).toBeGreaterThanOrEqual(0);
      expect(net).toBeLessThanOrEqual(bound);
      expect(back.amount_due).toBeLessThanOrEqual(net);
    }
  }
  api.clock.advance(400 * 86_400_000);
  await renewSubscriptions(api.billing);

  const renewals = await api.database.db
    .select()
    .from(invoices)
    .where(and(eq(invoices.subscriptionId, c.subscription), eq(invoices.billingReason, "subscription_cycle")))
    .orderBy(invoices.periodStart);
  const periods = await api.database.db
    .select()
    .from(subscriptionPeriods)
    .where(eq(subscriptionPeriods.subscriptionId, c.subscription));
  // No period billed twice: nothing recorded before a renewal's period reaches into it.
  for (const r of renewals)
    for (const p of periods)
      if (p.periodStart < (r.periodStart as Date))
        expect(p.periodEnd.getTime(), `${p.openedBy} ${p.periodStart.toISOString()}`).toBeLessThanOrEqual(
          (r.periodStart as Date).getTime(),
        );
  // What each period was billed: the lines of the quotes checked out in it plus its renewal.
  const expected = new Map<string, number>();
  const add = (end: string, amount: number) => expected.set(end, (expected.get(end) ?? 0) + amount);
  for (const q of charged) for (const l of q.lines) add(new Date(l.period_end).toISOString(), l.amount);
  for (const r of renewals) add((r.periodEnd as Date).toISOString(), r.subtotal);
  const billed = new Map<string, number>();
  const lines = await api.database.db
    .select({ amount: invoiceLines.amount, end: invoiceLines.periodEnd })
    .from(invoiceLines)
    .where(eq(invoiceLines.subscriptionId, c.subscription));
  for (const l of lines) billed.set(l.end.toISOString(), (billed.get(l.end.toISOString()) ?? 0) + l.amount);
  const nonZero = (m: Map<string, number>) => Object.fromEntries([...m].filter(([, a]) => a !== 0).sort());
  expect(nonZero(billed)).toEqual(nonZero(expected));
  // The card: what the quotes said was due, and each renewal's amount due.
  const dueNow = charged.reduce((s, q) => s + q.amount_due, 0);
  const dueLater = renewals.reduce((s, r) => s + r.amountDue, 0);
  expect((await chargesFor(api, c.account)).reduce((s, p) => s + p.amount, 0)).toBe(dueNow + dueLater);
  // The next invoice a quote promised is the renewal that came (when nothing changed in between).
  const last = promised as Quote | null;
  const next = last && renewals.find((r) => (r.periodStart as Date).toISOString() === last.next_invoice.date);
  if (last && next) expect(next.subtotal).toBe(last.recurring.after.amount);
  // ended, so later runs' clocks renew nothing of it
  expect(
    (await api.request("POST", `/v1/subscriptions/${c.subscription}/cancel`, { at_period_end: false }))
      .statusCode,
  ).toBe(200);
}

describe("money rules on random catalogs, over the API", () => {
  it("no period billed twice; each period billed what its quotes and renewal said; a pair nets to 0", async () => {
    await fc.assert(
      fc.asyncProperty(
        randomCatalogArb(),
        anchorArb,
        targetArb,
        fc.integer({ min: 0, max: 20 * 86_400 }),
        fc.array(stepArb, { minLength: 2, maxLength: 6 }),
        (doc, anchor, start, startAfter, steps) => playRun(doc, anchor, start, startAfter, steps),
      ),
      { numRuns: 12 },
    );
  }, 600_000);
});
