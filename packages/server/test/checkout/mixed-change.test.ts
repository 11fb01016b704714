import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { checkouts, domainEvents, invoices, scheduledChanges } from "../../src/db/schema/index.ts";
import { recoverCheckouts } from "../../src/services/checkout/index.ts";
import { draftDueRenewals, renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { applyScheduledChanges } from "../../src/services/subscriptions/scheduled-changes.ts";
import {
  type BillingApi,
  chargesFor as chargesForAccount,
  customer,
  eventTypesOf,
  invoicesOf,
  ProcessCrash,
  quoteOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * A change on the same plan that raises some items and lowers others ("several at once", issue 4)
 * is one quote in two parts: the raises now, prorated and charged like an addition on its own; the
 * reductions at the period end with no credit, like a reduction on its own, applied by the
 * scheduled-changes machinery. On PGlite, and on PostgreSQL with UPTIER_TEST_DB=postgres.
 */
const api: BillingApi = useBillingApi();
const START = "2026-01-17T00:00:00Z";
/** Starter, 6 seats (1 beyond the 5 included) and Advanced reporting: $99 + $15 + $29 = $143 a month. */
const WITH_REPORTING = {
  billing_cycle_anchor: "2026-01-01T00:00:00Z",
  seats: 6,
  add_ons: [{ key: "advanced_reporting" }],
};
/** +2 seats, Advanced reporting removed */
const MIXED = { seats: 8, add_ons: [] };

const quote = (account: string, change: Record<string, unknown>) => quoteOf(api, account, change);
const checkout = (quoteId: string, member: string) =>
  api.request("POST", "/v1/checkout", { quote: quoteId, member });
const sub = async (id: string) => (await api.request("GET", `/v1/subscriptions/${id}`)).json();
const chargesFor = (account: string) => chargesForAccount(api, account);
const scheduledOf = (subscription: string) =>
  api.database.db
    .select()
    .from(scheduledChanges)
    .where(eq(scheduledChanges.subscriptionId, subscription))
    .orderBy(scheduledChanges.createdAt, scheduledChanges.id);
const eventTypes = (account: string) => eventTypesOf(api, account);
const itemsOf = (s: { seats: number; add_ons: { key: string; quantity: number }[] }) => ({
  seats: s.seats,
  add_ons: s.add_ons.map((a) => [a.key, a.quantity]),
});

describe("a change that raises some items and lowers others", () => {
  it("is quoted as both parts: the raises due today, the reductions from the period end", async () => {
    const c = await customer(api, "starter", WITH_REPORTING);
    const q = await quote(c.account, MIXED);
    expect(q).toMatchObject({
      timing: "split",
      effective_at: "2026-01-17T00:00:00.000Z",
      change: {
        from: { plan: "starter", seats: 6, add_ons: [{ key: "advanced_reporting", quantity: 1 }] },
        to: { plan: "starter", seats: 8, add_ons: [] },
      },
      // R(2 × 1500 × 15/31) = R(1451.61): the quote of the 2 seats alone
      lines: [{ item: "seats", kind: "charge", quantity: 2, unit_amount: 1500, amount: 1452 }],
      subtotal: 1452,
      amount_due: 1452,
      credit_to_balance: 0,
      recurring: {
        before: { amount: 14_300, interval: "month" },
        after: { amount: 14_400, interval: "month" },
        delta_per_month: 100,
      },
      next_invoice: { date: "2026-02-01T00:00:00.000Z", amount: 14_400 },
      scheduled: {
        effective_at: "2026-02-01T00:00:00.000Z",
        change: {
          from: { seats: 8, add_ons: [{ key: "advanced_reporting", quantity: 1 }] },
          to: { seats: 8, add_ons: [] },
        },
      },
      summary_text:
        "Adding 2 seats adds $30.00 to your monthly bill. $14.52 is due today for the remaining 15 days of this cycle. Removing Advanced reporting lowers your monthly bill by $29.00 from Feb 1, 2026. Your next invoice, on Feb 1, 2026, will be $144.00.",
    });
    const seatsAlone = await quote(c.account, { seats: 8 });
    expect(seatsAlone.lines).toEqual(q.lines);
    expect((await api.request("GET", `/v1/quotes/${q.id}`)).json()).toMatchObject({
      timing: "split",
      scheduled: q.scheduled,
    });
    // any other quote has nothing scheduled apart from its own timing
    expect(seatsAlone).toMatchObject({ timing: "immediate", scheduled: null });
  });

  it("checkout charges the raises once, applies them, and schedules the rest; the period end applies it", async () => {
    const c = await customer(api, "starter", WITH_REPORTING);
    const q = await quote(c.account, MIXED);
    const done = await checkout(q.id, c.admin);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({ status: "succeeded", amount: 1452, invoice: expect.any(String) });
    expect((await chargesFor(c.account)).map((p) => p.amount)).toEqual([1452]);
    const invoice = (await api.request("GET", `/v1/invoices/${done.json().invoice}`)).json();
    expect(invoice).toMatchObject({
      status: "paid",
      subtotal: 1452,
      amount_paid: 1452,
      lines: [{ item: "seats", amount: 1452 }],
    });
    // the raises now, the reductions still in force until the period end
    expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 8, add_ons: [["advanced_reporting", 1]] });
    const [pending, ...others] = await scheduledOf(c.subscription);
    expect(others).toEqual([]);
    expect(pending).toMatchObject({
      status: "scheduled",
      quoteId: q.id,
      effectiveAt: new Date("2026-02-01T00:00:00Z"),
      target: { plan: "starter", seats: 8, addOns: [], billingCycleAnchor: null },
    });
    expect(await eventTypes(c.account)).toEqual(
      expect.arrayContaining([
        "subscription.updated",
        "invoice.paid",
        "subscription.change_scheduled",
        "checkout.succeeded",
      ]),
    );
    const [updated] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "subscription.updated")));
    expect(updated?.data).toMatchObject({
      subscription: { seats: 8, add_ons: [{ key: "advanced_reporting", quantity: 1 }] },
      change: { quote: q.id, timing: "split", components: [{ type: "seats", from: 6, to: 8 }] },
    });
    // a second checkout of the quote is the same one: nothing charged or scheduled again
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ id: done.json().id });
    expect(await chargesFor(c.account)).toHaveLength(1);
    expect(await scheduledOf(c.subscription)).toHaveLength(1);

    // the job, a second before the period end and after it
    api.clock.set("2026-01-31T23:59:59Z");
    try {
      await applyScheduledChanges(api.billing);
      expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 8, add_ons: [["advanced_reporting", 1]] });
      api.clock.set("2026-02-01T00:00:05Z");
      expect(await applyScheduledChanges(api.billing)).toBeGreaterThanOrEqual(1);
      expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 8, add_ons: [] });
      expect((await scheduledOf(c.subscription))[0]).toMatchObject({ status: "applied" });
      // the renewal bills what the quote said the next invoice would be
      await renewSubscriptions(api.billing);
      const [renewal] = await invoicesOf(api, c.subscription);
      expect(renewal).toMatchObject({ subtotal: q.next_invoice.amount, status: "paid" });
      expect(renewal?.periodStart).toEqual(new Date(q.next_invoice.date));
    } finally {
      api.clock.set(START);
    }
  });

  it("adds one add-on now and drops another later: the event shows the subscription as a read does", async () => {
    const c = await customer(api, "pro", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      add_ons: [{ key: "storage_pack", quantity: 2 }, { key: "advanced_reporting" }],
    });
    const q = await quote(c.account, { add_ons: [{ key: "sso" }, { key: "storage_pack", quantity: 1 }] });
    expect(q).toMatchObject({
      timing: "split",
      lines: [{ item: "add_on:sso", amount: 2371 }], // R(4900 × 15/31)
      scheduled: { change: { to: { add_ons: [{ key: "sso" }, { key: "storage_pack", quantity: 1 }] } } },
    });
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 2371 });
    const now = await sub(c.subscription);
    expect(itemsOf(now).add_ons).toEqual(
      expect.arrayContaining([
        ["advanced_reporting", 1],
        ["sso", 1],
        ["storage_pack", 2],
      ]),
    );
    const [updated] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "subscription.updated")));
    expect(updated?.data).toMatchObject({ subscription: now });
  });

  it("a declined card applies nothing and schedules nothing", async () => {
    const c = await customer(api, "starter", { ...WITH_REPORTING, token: "sandbox_insufficient_funds" });
    const q = await quote(c.account, MIXED);
    const declined = await checkout(q.id, c.admin);
    expect(declined.statusCode).toBe(402);
    expect(declined.json()).toMatchObject({ code: "payment_declined" });
    expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 6, add_ons: [["advanced_reporting", 1]] });
    expect(await scheduledOf(c.subscription)).toEqual([]);
    expect(
      await api.database.db.select().from(invoices).where(eq(invoices.accountId, c.account)),
    ).toHaveLength(0);
  });

  it("a crash after the charge is finished by recovery: both parts, once", async () => {
    const c = await customer(api, "starter", WITH_REPORTING);
    const q = await quote(c.account, MIXED);
    api.gateway.afterCharge = () => {
      throw new ProcessCrash("the process died here");
    };
    expect((await checkout(q.id, c.admin)).statusCode).toBe(500);
    api.gateway.afterCharge = null;
    expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 6, add_ons: [["advanced_reporting", 1]] });
    expect(await scheduledOf(c.subscription)).toEqual([]);
    api.clock.advance(120_000);
    try {
      expect(await recoverCheckouts(api.billing)).toMatchObject({ completed: 1, unresolved: 0 });
    } finally {
      api.clock.set(START);
    }
    const [row] = await api.database.db.select().from(checkouts).where(eq(checkouts.quoteId, q.id));
    expect(row).toMatchObject({ status: "succeeded", amount: 1452 });
    expect((await chargesFor(c.account)).map((p) => p.amount)).toEqual([1452]);
    expect(itemsOf(await sub(c.subscription))).toEqual({ seats: 8, add_ons: [["advanced_reporting", 1]] });
    expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["scheduled"]);
  });

  it("replaces a reduction scheduled earlier, as any change checked out after it does", async () => {
    const c = await customer(api, "starter", {
      ...WITH_REPORTING,
      add_ons: [{ key: "advanced_reporting" }, { key: "storage_pack", quantity: 2 }],
    });
    const fewerPacks = await quote(c.account, {
      add_ons: [{ key: "advanced_reporting" }, { key: "storage_pack", quantity: 1 }],
    });
    expect(fewerPacks).toMatchObject({ timing: "period_end", amount_due: 0 });
    expect((await checkout(fewerPacks.id, c.admin)).json()).toMatchObject({ status: "succeeded" });
    const q = await quote(c.account, { seats: 8, add_ons: [{ key: "storage_pack", quantity: 2 }] });
    expect(q).toMatchObject({ timing: "split", amount_due: 1452 });
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 1452 });
    expect(itemsOf(await sub(c.subscription))).toEqual({
      seats: 8,
      add_ons: [
        ["advanced_reporting", 1],
        ["storage_pack", 2],
      ],
    });
    expect((await scheduledOf(c.subscription)).map((s) => [s.quoteId, s.status])).toEqual([
      [fewerPacks.id, "canceled"],
      [q.id, "scheduled"],
    ]);
  });

  it("still refuses seats below the seats in use, whatever else the change raises", async () => {
    const c = await customer(api, "starter", { ...WITH_REPORTING, seats: 8, add_ons: [] });
    for (let i = 0; i < 6; i++)
      await api.request("POST", `/v1/accounts/${c.account}/members`, { email: `p${i}@x.test` });
    const refused = await api.request("POST", "/v1/quotes", {
      account: c.account,
      seats: 6,
      add_ons: [{ key: "advanced_reporting" }],
    });
    expect([refused.statusCode, refused.json().code, refused.json().param]).toEqual([
      422,
      "seat_quantity_below_usage",
      "seats",
    ]);
  });
});

/**
 * A plan change is split by direction too (docs/rules.md, periods 5): the parts that raise the bill now,
 * the parts that lower it at the period end — the worked examples of docs/billing.md.
 */
describe("a plan change with parts that lower the bill", () => {
  const ANCHOR = "2026-01-01T00:00:00Z";

  it("a higher plan with fewer seats: the new plan now at the current seats, the cut at the period end", async () => {
    const c = await customer(api, "pro", { billing_cycle_anchor: ANCHOR, seats: 30 });
    const q = await quote(c.account, { plan: "business", seats: 28 });
    expect(q).toMatchObject({
      timing: "split",
      // Pro at 30 seats → Business at 30, f = 15/31
      lines: [
        { item: "plan", kind: "credit", amount: -12_048 },
        { item: "plan", kind: "charge", amount: 28_984 },
        { item: "seats", kind: "credit", amount: -14_516 },
        { item: "seats", kind: "charge", amount: 3629 },
      ],
      amount_due: 6049,
      scheduled: {
        effective_at: "2026-02-01T00:00:00.000Z",
        change: { from: { plan: "business", seats: 30 }, to: { plan: "business", seats: 28 } },
      },
      next_invoice: { date: "2026-02-01T00:00:00.000Z", amount: 64_400 },
      summary_text:
        "Upgrading from Pro to Business adds $125.00 to your monthly bill. $60.49 is due today for the remaining 15 days of this cycle. Removing 2 seats lowers your monthly bill by $30.00 from Feb 1, 2026. Your next invoice, on Feb 1, 2026, will be $644.00.",
    });
    const done = await checkout(q.id, c.admin);
    expect(done.json()).toMatchObject({ status: "succeeded", amount: 6049 });
    expect((await chargesFor(c.account)).map((p) => p.amount)).toEqual([6049]);
    const now = await sub(c.subscription);
    expect(now).toMatchObject({
      plan: "business",
      seats: 30,
      recurring: { amount: 67_400 },
      scheduled_change: {
        effective_at: "2026-02-01T00:00:00.000Z",
        quote: q.id,
        to: { plan: "business", interval: "month", seats: 28, add_ons: [] },
      },
    });
    const [updated] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "subscription.updated")));
    expect(updated?.data).toMatchObject({
      subscription: now,
      change: { timing: "split", components: [{ type: "plan", direction: "upgrade" }] },
    });

    api.clock.set("2026-02-01T00:00:05Z");
    try {
      expect(await applyScheduledChanges(api.billing)).toBeGreaterThanOrEqual(1);
      expect(await sub(c.subscription)).toMatchObject({
        plan: "business",
        seats: 28,
        scheduled_change: null,
      });
      await renewSubscriptions(api.billing);
      const [renewal] = await invoicesOf(api, c.subscription);
      expect(renewal).toMatchObject({ subtotal: q.next_invoice.amount, status: "paid" });
    } finally {
      api.clock.set(START);
    }
  });

  it("a lower plan with more seats: the seats now on the current plan, the plan at the period end", async () => {
    const c = await customer(api, "pro", { billing_cycle_anchor: ANCHOR, seats: 12 });
    const q = await quote(c.account, { plan: "starter", seats: 14 });
    expect(q).toMatchObject({
      timing: "split",
      lines: [{ item: "seats", kind: "charge", quantity: 2, amount: 1452 }],
      amount_due: 1452,
      scheduled: { change: { from: { plan: "pro", seats: 14 }, to: { plan: "starter", seats: 14 } } },
      next_invoice: { amount: 23_400 },
    });
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 1452 });
    expect(await sub(c.subscription)).toMatchObject({
      plan: "pro",
      seats: 14,
      scheduled_change: { to: { plan: "starter", seats: 14 } },
    });
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      await renewSubscriptions(api.billing); // applies the change due first, then bills
      expect(await sub(c.subscription)).toMatchObject({ plan: "starter", seats: 14, scheduled_change: null });
      const [renewal] = await invoicesOf(api, c.subscription);
      expect(renewal).toMatchObject({ subtotal: 23_400, status: "paid" });
    } finally {
      api.clock.set(START);
    }
  });

  it("annual → monthly with a higher plan: the upgrade now on the annual term, monthly from its end", async () => {
    const c = await customer(api, "starter", { billing_cycle_anchor: ANCHOR, interval: "year" });
    api.clock.set("2026-07-01T00:00:00Z");
    try {
      const q = await quote(c.account, { plan: "pro", interval: "month" });
      expect(q).toMatchObject({
        timing: "split",
        lines: [
          { item: "plan", kind: "credit", amount: -49_907 },
          { item: "plan", kind: "charge", amount: 125_523 },
        ],
        amount_due: 75_616,
        billing_cycle_anchor_after: null,
        scheduled: {
          effective_at: "2027-01-01T00:00:00.000Z",
          change: { from: { plan: "pro", interval: "year" }, to: { plan: "pro", interval: "month" } },
        },
        next_invoice: { date: "2027-01-01T00:00:00.000Z", amount: 24_900 },
      });
      expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 75_616 });
      expect(await sub(c.subscription)).toMatchObject({
        plan: "pro",
        interval: "year",
        recurring: { amount: 249_000 },
        scheduled_change: {
          effective_at: "2027-01-01T00:00:00.000Z",
          to: { plan: "pro", interval: "month" },
        },
      });
      const [pending] = await scheduledOf(c.subscription);
      expect(pending).toMatchObject({
        effectiveAt: new Date("2027-01-01T00:00:00Z"),
        target: { plan: "pro", interval: "month", billingCycleAnchor: "2027-01-01T00:00:00.000Z" },
      });

      // the first renewal after the term applies the change due first, then bills a month
      api.clock.set("2027-01-01T00:00:05Z");
      expect(await draftDueRenewals(api.billing, c.subscription, api.clock())).toBe(1);
      expect(await sub(c.subscription)).toMatchObject({
        plan: "pro",
        interval: "month",
        billing_cycle_anchor: "2027-01-01T00:00:00.000Z",
        current_period_end: "2027-02-01T00:00:00.000Z",
      });
      const [renewal] = await invoicesOf(api, c.subscription);
      expect(renewal).toMatchObject({ subtotal: 24_900, periodStart: new Date("2027-01-01T00:00:00Z") });
    } finally {
      api.clock.set(START);
    }
  });

  it("monthly → annual opens a new period: a lower plan goes with it at once", async () => {
    const c = await customer(api, "pro", { billing_cycle_anchor: ANCHOR, seats: 12 });
    const q = await quote(c.account, { plan: "starter", interval: "year", seats: 5 });
    expect(q).toMatchObject({
      timing: "immediate",
      scheduled: null,
      billing_cycle_anchor_after: "2026-01-17T00:00:00.000Z",
      amount_due: 99_000 - 12_048 - 1452,
    });
  });
});
