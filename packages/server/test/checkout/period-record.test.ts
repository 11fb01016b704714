import { readFileSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { subscriptionPeriods } from "../../src/db/schema/index.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  chargesFor,
  customer,
  invoicesOf,
  quoteOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * The period record: whether a period is billed, and what it charged each item when it began, is
 * written when the period begins (creation, renewal, switch to annual), never inferred from a
 * particular invoice line or recomputed from a later shape (docs/rules.md, periods 4).
 */
const plan = (name: string, tier: number, included: number, month: unknown, year?: unknown) => ({
  key: name.toLowerCase(),
  name,
  tier,
  prices: year ? { month, year } : { month },
  seats: { included, max: null },
  grants: {},
  trial_days: 0,
});
const seat = (unit_amount: number) => ({ model: "per_unit", unit_amount });

const api: BillingApi = useBillingApi({
  catalog: (doc) => ({
    ...doc,
    plans: {
      ...(doc.plans as Record<string, unknown>),
      basic: plan("Basic", 11, 1, { base: 0, seat: seat(4245) }),
      team: plan("Team", 12, 2, { base: 0, seat: seat(1500) }),
      crew: plan("Crew", 13, 0, { base: 0, seat: seat(1500) }, { base: 0, seat: seat(15_000) }),
      gratis: plan("Gratis", 14, 1, { base: 0 }, { base: 0 }),
    },
    policies: { downgrades: "immediate_with_credit" },
  }),
});

async function checkout(quote: { id: string }, admin: string) {
  const response = await api.request("POST", "/v1/checkout", { quote: quote.id, member: admin });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

const periodsOf = (subscription: string) =>
  api.database.db
    .select()
    .from(subscriptionPeriods)
    .where(eq(subscriptionPeriods.subscriptionId, subscription))
    .orderBy(subscriptionPeriods.periodStart, subscriptionPeriods.periodEnd);

const lineAmounts = (quote: { lines: { item: string; amount: number }[] }) =>
  quote.lines.map((l) => [l.item, l.amount]);

describe("a first period no invoice opened: the cap reads the shape it began with", () => {
  it("a switch and its reverse in the same second net to 0 and charge the card nothing", async () => {
    api.clock.set("2028-06-15T00:00:00Z");
    const c = await customer(api, "basic", { seats: 7 });
    // recorded at creation: 6 seats beyond the one included at $42.45
    expect((await periodsOf(c.subscription)).map((p) => [p.openedBy, p.invoiceId, p.opening])).toEqual([
      ["subscription_created", null, { plan: 0, seats: 25_470 }],
    ]);
    api.clock.set("2028-06-23T11:35:42Z");
    const there = await quoteOf(api, c.account, { plan: "team" });
    expect(lineAmounts(there)).toEqual([
      ["seats", -18_268],
      ["seats", 5379],
    ]);
    expect(there.amount_due).toBe(0);
    await checkout(there, c.admin);
    // the reverse, asked twice around a quote of something else: the cap does not move
    const back = await quoteOf(api, c.account, { plan: "basic" });
    await quoteOf(api, c.account, { plan: "team", seats: 9 });
    const again = await quoteOf(api, c.account, { plan: "basic" });
    for (const q of [back, again]) {
      expect(lineAmounts(q)).toEqual([
        ["seats", -5379],
        ["seats", 18_268],
      ]);
      expect(q).toMatchObject({ subtotal: 12_889, credit_applied: 12_889, amount_due: 0 });
    }
    await checkout(again, c.admin);
    expect(await chargesFor(api, c.account)).toEqual([]);
  });
});

describe("a switch to annual records the year it opens: renewals never bill it again", () => {
  it("a $0 base: the year is charged once by the checkout, renewed once at its end", async () => {
    api.clock.set("2026-01-15T00:00:00Z");
    const c = await customer(api, "crew", { seats: 5 });
    api.clock.set("2026-02-01T00:00:00Z");
    const q = await quoteOf(api, c.account, { interval: "year" });
    expect(lineAmounts(q)).toEqual([
      ["seats", -3387],
      ["seats", 75_000],
    ]);
    expect(q.amount_due).toBe(71_613);
    const done = await checkout(q, c.admin);
    expect((await periodsOf(c.subscription)).map((p) => [p.openedBy, p.periodStart, p.invoiceId])).toEqual([
      ["subscription_created", new Date("2026-01-15T00:00:00Z"), null],
      ["interval_change", new Date("2026-02-01T00:00:00Z"), done.invoice],
    ]);
    for (const at of ["2026-02-01T00:00:05Z", "2026-03-01T00:00:00Z", "2027-01-31T23:59:59Z"]) {
      api.clock.set(at);
      expect((await renewSubscriptions(api.billing)).renewed).toBe(0);
    }
    api.clock.set("2027-02-01T00:00:05Z");
    expect((await renewSubscriptions(api.billing)).renewed).toBe(1);
    const renewals = await invoicesOf(api, c.subscription);
    expect(renewals.map((r) => [r.periodStart, r.periodEnd, r.amountPaid])).toEqual([
      [new Date("2027-02-01T00:00:00Z"), new Date("2028-02-01T00:00:00Z"), 75_000],
    ]);
    expect((await chargesFor(api, c.account)).map((p) => p.amount)).toEqual([71_613, 75_000]);
  });

  it("a free plan: no duplicate $0 renewal for the year the switch opened", async () => {
    api.clock.set("2026-01-15T00:00:00Z");
    const c = await customer(api, "gratis", {});
    api.clock.set("2026-02-01T00:00:00Z");
    const q = await quoteOf(api, c.account, { interval: "year" });
    expect(q.lines).toEqual([]);
    const done = await checkout(q, c.admin);
    expect(done.invoice).toBeNull();
    api.clock.set("2026-02-15T00:00:00Z");
    expect((await renewSubscriptions(api.billing)).renewed).toBe(0);
    expect(await invoicesOf(api, c.subscription)).toEqual([]);
    api.clock.set("2027-02-01T00:00:05Z");
    expect((await renewSubscriptions(api.billing)).renewed).toBe(1);
    expect((await invoicesOf(api, c.subscription)).map((r) => r.periodStart)).toEqual([
      new Date("2027-02-01T00:00:00Z"),
    ]);
  });
});

describe("upgrading: migration 0006 backfills the record from what shows each period", () => {
  it("rebuilds, from invoices and events alone, the record the live code wrote", async () => {
    // Periods of every kind, recorded as they happen: an import mid-period, a trial, renewals, a
    // switch to annual on a $0 base with its year's renewal, a free plan's switch.
    api.clock.set("2026-01-15T00:00:00Z");
    const crew = await customer(api, "crew", { seats: 5, billing_cycle_anchor: "2026-01-10T00:00:00Z" });
    const gratis = await customer(api, "gratis", {});
    const trial = await api.request("POST", "/v1/subscriptions", {
      account: (await api.request("POST", "/v1/accounts", { external_id: "trialist", name: "T" })).json().id,
      plan: "starter",
      trial_days: 14,
    });
    expect(trial.statusCode).toBe(201);
    const pro = await customer(api, "pro", {
      add_ons: [{ key: "sso" }],
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
    });
    api.clock.set("2026-02-01T00:00:05Z");
    await renewSubscriptions(api.billing);
    await checkout(await quoteOf(api, crew.account, { interval: "year" }), crew.admin);
    await checkout(await quoteOf(api, gratis.account, { interval: "year" }), gratis.admin);
    api.clock.set("2026-03-01T00:00:05Z");
    await renewSubscriptions(api.billing);
    api.clock.set("2027-02-01T00:00:10Z");
    await renewSubscriptions(api.billing);

    const all = async () =>
      (
        await api.database.db
          .select()
          .from(subscriptionPeriods)
          .orderBy(subscriptionPeriods.subscriptionId, subscriptionPeriods.periodStart)
      ).map((p) => ({
        ...p,
        // an item at 0 is an item charged nothing, whether it is listed or not
        opening: Object.fromEntries(
          Object.entries(p.opening as Record<string, number>).filter(([, a]) => a !== 0),
        ),
      }));
    const live = await all();
    const subscriptions = [crew, gratis, pro].map((c) => c.subscription).concat(trial.json().id);
    for (const id of subscriptions) expect(live.some((p) => p.subscriptionId === id)).toBe(true);
    expect(new Set(live.map((p) => p.openedBy))).toEqual(
      new Set(["subscription_created", "trial", "renewal", "interval_change"]),
    );

    // As before the record existed: the table empty, then the migration's backfill statements.
    await api.database.db.execute(sql`delete from subscription_periods`);
    const migration = readFileSync(
      new URL("../../migrations/0006_subscription_periods.sql", import.meta.url),
      "utf8",
    );
    const backfill = migration
      .split("--> statement-breakpoint")
      .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
      .filter((s) => s.startsWith("INSERT"));
    expect(backfill).toHaveLength(3);
    for (const statement of backfill) await api.database.db.execute(sql.raw(statement));
    expect(await all()).toEqual(live);
  });
});
