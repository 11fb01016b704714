import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, invoices, scheduledChanges, subscriptions } from "../../src/db/schema/index.ts";
import {
  applyDueScheduledChange,
  applyScheduledChanges,
  cancelScheduledChange,
} from "../../src/services/subscriptions/scheduled-changes.ts";
import {
  type BillingApi,
  chargesFor,
  customer,
  eventTypesOf,
  quoteOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * A pending scheduled change can be canceled (docs/rules.md, periods 5): through
 * POST /v1/subscriptions/{id}/scheduled_change/cancel, or by a quote for the subscription as it is,
 * checked out. The job never applies a canceled change, whichever of the two commits first. On
 * PGlite, and on PostgreSQL with UPTIER_TEST_DB=postgres (where the races run on two connections).
 */
const api: BillingApi = useBillingApi();
const START = "2026-01-17T00:00:00Z";
const PERIOD_END = "2026-02-01T00:00:00.000Z";
/** Starter with 8 seats ($99 + 3 × $15 = $144), anchored on the 1st */
const EIGHT_SEATS = { billing_cycle_anchor: "2026-01-01T00:00:00Z", seats: 8 };

const quote = (account: string, change: Record<string, unknown>) => quoteOf(api, account, change);
const checkout = (quoteId: string, member: string) =>
  api.request("POST", "/v1/checkout", { quote: quoteId, member });
const sub = async (id: string) => (await api.request("GET", `/v1/subscriptions/${id}`)).json();
const cancel = (id: string, headers: Record<string, string> = {}) =>
  api.request("POST", `/v1/subscriptions/${id}/scheduled_change/cancel`, {}, headers);
const scheduledOf = (subscription: string) =>
  api.database.db
    .select()
    .from(scheduledChanges)
    .where(eq(scheduledChanges.subscriptionId, subscription))
    .orderBy(scheduledChanges.createdAt, scheduledChanges.id);
const eventsOf = (account: string, type: string) =>
  api.database.db
    .select()
    .from(domainEvents)
    .where(and(eq(domainEvents.accountId, account), eq(domainEvents.type, type)));
/** A later instant for a while, then back to the start. */
async function at<T>(iso: string, run: () => Promise<T>): Promise<T> {
  api.clock.set(iso);
  try {
    return await run();
  } finally {
    api.clock.set(START);
  }
}

/** A Starter customer with 8 seats and a reduction to 6 scheduled for Feb 1. */
async function withReductionScheduled() {
  const c = await customer(api, "starter", EIGHT_SEATS);
  const down = await quote(c.account, { seats: 6 });
  expect(down).toMatchObject({ timing: "period_end", amount_due: 0 });
  expect((await checkout(down.id, c.admin)).json()).toMatchObject({ status: "succeeded" });
  const [pending] = await scheduledOf(c.subscription);
  return { ...c, down, pending: pending as typeof scheduledChanges.$inferSelect };
}

describe("a pending scheduled change on the subscription", () => {
  it("is shown on GET /v1/subscriptions/{id} and in the list", async () => {
    const c = await withReductionScheduled();
    const shown = {
      id: c.pending.id,
      effective_at: PERIOD_END,
      quote: c.down.id,
      to: { plan: "starter", interval: "month", seats: 6, add_ons: [] },
    };
    expect(await sub(c.subscription)).toMatchObject({ seats: 8, scheduled_change: shown });
    const list = (await api.request("GET", `/v1/subscriptions?account=${c.account}`)).json();
    expect(list.data.map((s: { scheduled_change: unknown }) => s.scheduled_change)).toEqual([shown]);
    // and by the event that scheduled it, as a read shows it
    const [scheduled] = await eventsOf(c.account, "subscription.change_scheduled");
    expect(scheduled?.data).toMatchObject({ subscription: await sub(c.subscription) });
    const plain = await customer(api, "starter", EIGHT_SEATS);
    expect((await sub(plain.subscription)).scheduled_change).toBeNull();
  });
});

describe("POST /v1/subscriptions/{id}/scheduled_change/cancel", () => {
  it("cancels the reduction: the period end keeps the subscription as it is, and says so in an event", async () => {
    const c = await withReductionScheduled();
    const before = await sub(c.subscription);
    const response = await cancel(c.subscription);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      id: c.subscription,
      seats: 8,
      scheduled_change: null,
      revision: before.revision + 1,
    });
    expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["canceled"]);
    expect((await eventsOf(c.account, "subscription.scheduled_change_canceled")).map((e) => e.data)).toEqual([
      { subscription: c.subscription, scheduled_change: before.scheduled_change, replaced_by: null },
    ]);
    await at("2026-02-01T00:00:05Z", async () => {
      await applyScheduledChanges(api.billing);
      expect(await sub(c.subscription)).toMatchObject({ seats: 8, scheduled_change: null });
      expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["canceled"]);
      // the next quote prices 8 seats and replaces nothing
      expect(await quote(c.account, { seats: 9 })).toMatchObject({
        change: { from: { seats: 8 } },
        replaces_scheduled_change: null,
      });
    });
  });

  it("with an Idempotency-Key, a retry answers the first response and cancels nothing more", async () => {
    const c = await withReductionScheduled();
    const key = { "idempotency-key": `cancel-${c.subscription}` };
    const first = await cancel(c.subscription, key);
    expect(first.statusCode).toBe(200);
    const again = await cancel(c.subscription, key);
    expect(again.statusCode).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
    expect(await eventsOf(c.account, "subscription.scheduled_change_canceled")).toHaveLength(1);
    // without a key, a second cancel finds nothing to cancel
    const twice = await cancel(c.subscription);
    expect([twice.statusCode, twice.json().code, twice.json().param]).toEqual([
      409,
      "no_scheduled_change",
      "id",
    ]);
    expect(twice.headers["content-type"]).toMatch(/application\/problem\+json/);
  });

  it("answers 404 for an unknown subscription and 409 when nothing is scheduled", async () => {
    const missing = await cancel("sub_missing");
    expect([missing.statusCode, missing.json().code]).toEqual([404, "resource_not_found"]);
    const c = await customer(api, "starter", EIGHT_SEATS);
    const none = await cancel(c.subscription);
    expect([none.statusCode, none.json().code]).toEqual([409, "no_scheduled_change"]);
    const odd = await api.request("POST", `/v1/subscriptions/${c.subscription}/scheduled_change/cancel`, {
      at: "now",
    });
    expect(odd.statusCode).toBe(400);
  });

  it("answers 409 scheduled_change_in_effect once its instant has come, and changes nothing", async () => {
    const c = await withReductionScheduled();
    const revision = (await sub(c.subscription)).revision;
    await at("2026-02-01T00:00:00Z", async () => {
      const late = await cancel(c.subscription);
      expect([late.statusCode, late.json().code]).toEqual([409, "scheduled_change_in_effect"]);
      expect(late.json().detail).toContain("Feb 1, 2026");
      expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["scheduled"]);
      const [row] = await api.database.db
        .select()
        .from(subscriptions)
        .where(eq(subscriptions.id, c.subscription));
      expect(row?.revision).toBe(revision);
      // in force: a read applies it, as the job would have
      expect(await sub(c.subscription)).toMatchObject({ seats: 6, scheduled_change: null });
      await applyScheduledChanges(api.billing);
      expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["applied"]);
    });
  });

  it("answers 409 subscription_canceled for a subscription that has ended", async () => {
    const c = await withReductionScheduled();
    const ended = await api.request("POST", `/v1/subscriptions/${c.subscription}/cancel`, {
      at_period_end: false,
    });
    expect(ended.statusCode).toBe(200);
    const response = await cancel(c.subscription);
    expect([response.statusCode, response.json().code]).toEqual([409, "subscription_canceled"]);
  });

  it("makes a quote that promised to replace the canceled change stale", async () => {
    const c = await withReductionScheduled();
    const up = await quote(c.account, { seats: 9 });
    expect(up.replaces_scheduled_change).toMatchObject({ id: c.pending.id });
    expect((await cancel(c.subscription)).statusCode).toBe(200);
    const stale = await checkout(up.id, c.admin);
    expect([stale.statusCode, stale.json().code]).toEqual([409, "quote_stale"]);
    expect(await chargesFor(api, c.account)).toEqual([]);
  });

  it("cancels the later part of a split change: the part applied now stays", async () => {
    const c = await customer(api, "starter", {
      ...EIGHT_SEATS,
      seats: 6,
      add_ons: [{ key: "advanced_reporting" }],
    });
    const q = await quote(c.account, { seats: 8, add_ons: [] });
    expect(q.timing).toBe("split");
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 1452 });
    expect((await cancel(c.subscription)).json()).toMatchObject({
      seats: 8,
      add_ons: [{ key: "advanced_reporting", quantity: 1 }],
      scheduled_change: null,
    });
    await at("2026-02-01T00:00:05Z", async () => {
      await applyScheduledChanges(api.billing);
      expect((await sub(c.subscription)).add_ons).toEqual([
        { key: "advanced_reporting", quantity: 1, version: 1 },
      ]);
    });
  });
});

describe("a quote for the subscription as it is, while a change is scheduled", () => {
  it("cancels the change when checked out: nothing charged, nothing invoiced, an event", async () => {
    const c = await withReductionScheduled();
    const keep = await quote(c.account, { seats: 8 });
    expect(keep).toMatchObject({
      timing: "immediate",
      lines: [],
      amount_due: 0,
      change: { from: { seats: 8 }, to: { seats: 8 } },
      replaces_scheduled_change: { id: c.pending.id, effective_at: PERIOD_END },
      next_invoice: { date: PERIOD_END, amount: 14_400 },
      summary: [
        "Your change scheduled for Feb 1, 2026 is canceled: your subscription stays as it is.",
        "Nothing is due today.",
        "Your next invoice, on Feb 1, 2026, will be $144.00.",
      ],
    });
    const done = await checkout(keep.id, c.admin);
    expect(done.json()).toMatchObject({ status: "succeeded", amount: 0, invoice: null });
    expect(await sub(c.subscription)).toMatchObject({ seats: 8, scheduled_change: null });
    expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["canceled"]);
    const [canceled] = await eventsOf(c.account, "subscription.scheduled_change_canceled");
    expect(canceled?.data).toMatchObject({
      scheduled_change: { id: c.pending.id },
      replaced_by: { quote: keep.id, checkout: done.json().id, timing: "immediate", components: [] },
    });
    // no change of the subscription itself is recorded (MRR does not move)
    expect((await eventTypesOf(api, c.account)).filter((t) => t === "subscription.updated")).toEqual([]);
    expect(await api.database.db.select().from(invoices).where(eq(invoices.accountId, c.account))).toEqual(
      [],
    );
    expect(await chargesFor(api, c.account)).toEqual([]);
    await at("2026-02-01T00:00:05Z", async () => {
      await applyScheduledChanges(api.billing);
      expect((await sub(c.subscription)).seats).toBe(8);
    });
  });

  it("is already_on_plan when nothing is scheduled", async () => {
    const c = await customer(api, "starter", EIGHT_SEATS);
    const same = await api.request("POST", "/v1/quotes", { account: c.account, seats: 8 });
    expect([same.statusCode, same.json().code]).toEqual([409, "already_on_plan"]);
  });
});

describe("cancel and the scheduled-changes job at the period end", () => {
  /** Runs `first` in a transaction that holds its locks until `second` has been started and waits. */
  async function whileHeld(
    first: (tx: Parameters<Parameters<typeof api.database.db.transaction>[0]>[0]) => Promise<unknown>,
    second: () => Promise<unknown>,
  ) {
    let held!: () => void;
    const holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const firstDone = api.database.db.transaction(async (tx) => {
      await first(tx);
      held();
      await released;
    });
    await holding;
    const secondDone = second();
    // the second waits for the first's lock (PostgreSQL) or connection (PGlite)
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await firstDone;
    return secondDone;
  }
  const justBefore = new Date("2026-01-31T23:59:59Z");
  const justAfter = new Date("2026-02-01T00:00:01Z");
  const jobAt = (instant: Date) => applyScheduledChanges({ ...api.billing, clock: () => instant });

  it("a cancel that commits first: the job waiting on it applies nothing", async () => {
    const c = await withReductionScheduled();
    const applied = await whileHeld(
      (tx) => cancelScheduledChange(tx, c.subscription, justBefore),
      () => jobAt(justAfter),
    );
    expect(applied).toBe(0);
    expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["canceled"]);
    expect((await sub(c.subscription)).seats).toBe(8);
  });

  it("a job that commits first: the cancel waiting on it finds nothing to cancel", async () => {
    const c = await withReductionScheduled();
    const response = (await whileHeld(
      (tx) => applyDueScheduledChange(tx, c.subscription, justAfter),
      () => {
        api.clock.set(justBefore.toISOString());
        return cancel(c.subscription);
      },
    )) as Awaited<ReturnType<typeof cancel>>;
    api.clock.set(START);
    expect([response.statusCode, response.json().code]).toEqual([409, "no_scheduled_change"]);
    expect((await scheduledOf(c.subscription)).map((s) => s.status)).toEqual(["applied"]);
    expect((await sub(c.subscription)).seats).toBe(6);
    expect(await eventsOf(c.account, "subscription.scheduled_change_canceled")).toEqual([]);
  });

  it("both at once, many times: each change is canceled or applied, never both", async () => {
    const customers = await Promise.all(Array.from({ length: 6 }, () => withReductionScheduled()));
    const outcomes = await Promise.all(
      customers.map((c) =>
        Promise.all([
          api.database.db
            .transaction((tx) => cancelScheduledChange(tx, c.subscription, justBefore))
            .then(
              () => "canceled",
              (error: { code?: string }) => error.code,
            ),
          api.database.db.transaction((tx) => applyDueScheduledChange(tx, c.subscription, justAfter)),
        ]),
      ),
    );
    for (const [i, [canceled, applied]] of outcomes.entries()) {
      const c = customers[i] as Awaited<ReturnType<typeof withReductionScheduled>>;
      const [row] = await scheduledOf(c.subscription);
      const seats = (await sub(c.subscription)).seats;
      const events = await eventsOf(c.account, "subscription.scheduled_change_canceled");
      if (applied)
        expect([canceled, row?.status, seats, events.length]).toEqual([
          "no_scheduled_change",
          "applied",
          6,
          0,
        ]);
      else expect([canceled, row?.status, seats, events.length]).toEqual(["canceled", "canceled", 8, 1]);
    }
  });
});
