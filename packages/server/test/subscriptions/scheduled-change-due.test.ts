import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, scheduledChanges } from "../../src/db/schema/index.ts";
import { applyScheduledChanges } from "../../src/services/subscriptions/scheduled-changes.ts";
import { type BillingApi, chargesFor, customer, quoteOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * A scheduled change is in force from its instant, whether or not the job has applied it yet
 * (docs/billing.md, change rules): every read answers the subscription as it is then. A read that
 * showed the shape before the change, with the change still "scheduled" for an instant gone by, made
 * a client that restores that shape buy back what the period end removed (the money property's
 * change-and-reverse pair charged the add-on again). On PGlite, and on PostgreSQL with
 * UPTIER_TEST_DB=postgres.
 */
const api: BillingApi = useBillingApi();
const START = "2026-01-17T00:00:00Z";
const AFTER_PERIOD_END = "2026-02-06T09:25:00Z";

const sub = async (id: string) => (await api.request("GET", `/v1/subscriptions/${id}`)).json();

/** Starter, 8 seats and Advanced reporting, anchored on the 1st, with the add-on's removal scheduled for Feb 1. */
async function withRemovalScheduled() {
  api.clock.set(START);
  const c = await customer(api, "starter", {
    billing_cycle_anchor: "2026-01-01T00:00:00Z",
    seats: 8,
    add_ons: [{ key: "advanced_reporting" }],
  });
  const down = await quoteOf(api, c.account, { add_ons: [] });
  expect(down).toMatchObject({ timing: "period_end", amount_due: 0 });
  const done = await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin });
  expect(done.json()).toMatchObject({ status: "succeeded" });
  return c;
}

describe("a scheduled change whose instant has come, before the job runs", () => {
  it("is in force on GET /v1/subscriptions/{id}: the shape it leads to, nothing scheduled", async () => {
    const c = await withRemovalScheduled();
    const before = await sub(c.subscription);
    expect(before).toMatchObject({ add_ons: [{ key: "advanced_reporting" }] });
    api.clock.set(AFTER_PERIOD_END);
    const read = await sub(c.subscription);
    expect(read).toMatchObject({
      plan: "starter",
      seats: 8,
      add_ons: [],
      scheduled_change: null,
      revision: before.revision + 1,
    });
    expect(read.recurring.amount).toBe(14_400);
    // applied once, as the job would have: the row is applied, one subscription.updated at its instant
    const rows = await api.database.db
      .select()
      .from(scheduledChanges)
      .where(eq(scheduledChanges.subscriptionId, c.subscription));
    expect(rows.map((r) => r.status)).toEqual(["applied"]);
    await applyScheduledChanges(api.billing); // the job finds nothing more to apply to it
    const updated = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "subscription.updated")));
    expect(updated).toHaveLength(1);
    expect(updated[0]?.data).toMatchObject({
      previous: { add_ons: [{ key: "advanced_reporting" }] },
      subscription: { add_ons: [], scheduled_change: null },
      change: { timing: "period_end", effective_at: "2026-02-01T00:00:00.000Z" },
    });
    expect(await sub(c.subscription)).toEqual(read);
  });

  it("is in force in the list too", async () => {
    const c = await withRemovalScheduled();
    api.clock.set(AFTER_PERIOD_END);
    const list = (await api.request("GET", `/v1/subscriptions?account=${c.account}`)).json();
    expect(list.data).toEqual([expect.objectContaining({ add_ons: [], scheduled_change: null })]);
  });

  it("so returning to the shape a read shows changes nothing and charges nothing", async () => {
    const c = await withRemovalScheduled();
    api.clock.set(AFTER_PERIOD_END);
    const shown = await sub(c.subscription);
    const back = await api.request("POST", "/v1/quotes", {
      account: c.account,
      plan: shown.plan,
      interval: shown.interval,
      seats: shown.seats,
      add_ons: shown.add_ons.map((a: { key: string; quantity: number }) => ({
        key: a.key,
        quantity: a.quantity,
      })),
    });
    // before the fix: 201, the add-on bought back for the 22 days left of February
    expect([back.statusCode, back.json().code]).toEqual([409, "already_on_plan"]);
    expect(await chargesFor(api, c.account)).toEqual([]);
  });
});
