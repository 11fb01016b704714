import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, scheduledChanges } from "../../src/db/schema/index.ts";
import { applyScheduledChanges } from "../../src/services/subscriptions/scheduled-changes.ts";
import { type BillingApi, customer, quoteOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * PATCH /v1/subscriptions/{id} while a change waits for the period end (docs/billing.md, change
 * rules): an update of what the subscription is supersedes the pending change, cancels it and says
 * so; resuming or canceling at the period end leaves it; a change already in force is applied
 * first. On PGlite, and on PostgreSQL with UPTIER_TEST_DB=postgres.
 */
const api: BillingApi = useBillingApi();
const START = "2026-01-17T00:00:00Z";
const PERIOD_END = "2026-02-01T00:00:00.000Z";

const patch = (id: string, body: Record<string, unknown>) =>
  api.request("PATCH", `/v1/subscriptions/${id}`, body);
const sub = async (id: string) => (await api.request("GET", `/v1/subscriptions/${id}`)).json();
const statusesOf = async (subscription: string) =>
  (
    await api.database.db
      .select()
      .from(scheduledChanges)
      .where(eq(scheduledChanges.subscriptionId, subscription))
      .orderBy(scheduledChanges.createdAt)
  ).map((r) => r.status);
const eventsOf = (account: string, type: string) =>
  api.database.db
    .select()
    .from(domainEvents)
    .where(and(eq(domainEvents.accountId, account), eq(domainEvents.type, type)))
    .orderBy(domainEvents.seq);

/** Starter with 8 seats, anchored on the 1st, and a reduction to 6 scheduled for Feb 1. */
async function withReductionScheduled() {
  api.clock.set(START);
  const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z", seats: 8 });
  const down = await quoteOf(api, c.account, { seats: 6 });
  expect(down).toMatchObject({ timing: "period_end" });
  const done = await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin });
  expect(done.json()).toMatchObject({ status: "succeeded" });
  const shown = (await sub(c.subscription)).scheduled_change;
  expect(shown).toMatchObject({ effective_at: PERIOD_END, to: { seats: 6 } });
  return { ...c, shown };
}

describe("PATCH /v1/subscriptions/{id} while a change is scheduled", () => {
  it("an update of the seats supersedes it: canceled, shown as gone, and said in an event", async () => {
    const c = await withReductionScheduled();
    const before = await sub(c.subscription);
    const response = await patch(c.subscription, { seats: 10 });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      seats: 10,
      scheduled_change: null,
      revision: before.revision + 1,
    });
    expect(await statusesOf(c.subscription)).toEqual(["canceled"]);
    const [updated] = await eventsOf(c.account, "subscription.updated");
    expect(updated?.data).toMatchObject({
      previous: { seats: 8, scheduled_change: c.shown },
      subscription: { seats: 10, scheduled_change: null },
    });
    expect((await eventsOf(c.account, "subscription.scheduled_change_canceled")).map((e) => e.data)).toEqual([
      {
        subscription: c.subscription,
        scheduled_change: c.shown,
        replaced_by: { update: "administrative", components: [{ type: "seats", from: 8, to: 10 }] },
      },
    ]);
    // the period end keeps the update
    api.clock.set("2026-02-01T00:00:05Z");
    await applyScheduledChanges(api.billing);
    expect(await sub(c.subscription)).toMatchObject({ seats: 10, scheduled_change: null });
  });

  it("an update to what the subscription already is supersedes it too (as a quote for it would)", async () => {
    const c = await withReductionScheduled();
    const response = await patch(c.subscription, { plan: "starter", seats: 8 });
    expect(response.json()).toMatchObject({ seats: 8, scheduled_change: null });
    const [canceled] = await eventsOf(c.account, "subscription.scheduled_change_canceled");
    expect(canceled?.data).toMatchObject({ replaced_by: { update: "administrative", components: [] } });
  });

  it("a quote that promised to replace it is stale after the update", async () => {
    const c = await withReductionScheduled();
    const up = await quoteOf(api, c.account, { seats: 9 });
    expect(up.replaces_scheduled_change).toMatchObject({ id: c.shown.id });
    expect((await patch(c.subscription, { add_ons: [{ key: "advanced_reporting" }] })).statusCode).toBe(200);
    const stale = await api.request("POST", "/v1/checkout", { quote: up.id, member: c.admin });
    expect([stale.statusCode, stale.json().code]).toEqual([409, "quote_stale"]);
  });

  it("canceling at the period end and resuming leave it pending; it applies at the period end", async () => {
    const c = await withReductionScheduled();
    const ending = await patch(c.subscription, { cancel_at_period_end: true });
    expect(ending.json()).toMatchObject({ cancel_at_period_end: true, scheduled_change: c.shown });
    const resumed = await patch(c.subscription, { cancel_at_period_end: false });
    expect(resumed.json()).toMatchObject({ cancel_at_period_end: false, scheduled_change: c.shown });
    expect(await statusesOf(c.subscription)).toEqual(["scheduled"]);
    expect(await eventsOf(c.account, "subscription.scheduled_change_canceled")).toEqual([]);
    api.clock.set("2026-02-01T00:00:05Z");
    await applyScheduledChanges(api.billing);
    expect(await statusesOf(c.subscription)).toEqual(["applied"]);
    expect(await sub(c.subscription)).toMatchObject({ seats: 6, scheduled_change: null });
  });

  it("a change already in force is applied first, and the update starts from it", async () => {
    const c = await withReductionScheduled();
    api.clock.set("2026-02-06T00:00:00Z");
    const response = await patch(c.subscription, { add_ons: [{ key: "advanced_reporting" }] });
    expect(response.json()).toMatchObject({
      seats: 6,
      add_ons: [{ key: "advanced_reporting", quantity: 1 }],
      scheduled_change: null,
    });
    expect(await statusesOf(c.subscription)).toEqual(["applied"]);
    expect(await eventsOf(c.account, "subscription.scheduled_change_canceled")).toEqual([]);
    const updates = await eventsOf(c.account, "subscription.updated");
    expect(updates.map((e) => (e.data as { subscription: { seats: number } }).subscription.seats)).toEqual([
      6, 6,
    ]);
  });

  it("a refused update changes nothing: the change stays pending", async () => {
    const c = await withReductionScheduled();
    const before = await sub(c.subscription);
    const refused = await patch(c.subscription, { plan: "no_such_plan" });
    expect([refused.statusCode, refused.json().code]).toEqual([422, "unknown_plan"]);
    expect(await sub(c.subscription)).toEqual(before);
    expect(await statusesOf(c.subscription)).toEqual(["scheduled"]);
    // refused after the change in force was applied: that is rolled back too
    api.clock.set("2026-02-06T00:00:00Z");
    const late = await patch(c.subscription, { plan: "no_such_plan" });
    expect(late.statusCode).toBe(422);
    expect(await statusesOf(c.subscription)).toEqual(["scheduled"]);
  });
});
