import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, invoicePayments, subscriptions } from "../../src/db/schema/index.ts";
import { renewSubscriptionsJob, runJobOnce } from "../../src/jobs/billing-jobs.ts";
import type { BillingContext } from "../../src/services/context.ts";
import { retryInvoicePayments } from "../../src/services/invoices/collection.ts";
import { draftFinalInvoice, renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  invoiceJson as invoiceJsonOf,
  invoicesOf,
  renewAt as renewAtOf,
  useBillingApi,
  withBilledApiCalls,
} from "../support/billing-harness.ts";

/**
 * The final invoice of an ended subscription: the billed overage of its last period, which no
 * renewal carries (renewals bill the period that ended with the next one's fees). Run through the
 * renewal job with the test clock, on PGlite and PostgreSQL; the harness checks after every
 * scenario that the ledger reconciles with the invoices and with what the sandbox collected. Time
 * only moves forward in this file.
 *
 * The catalog is the demo one with API calls made a billed overage (Starter grants 10 calls here,
 * beyond them $2 per started 5 calls).
 */
const api: BillingApi = useBillingApi({ catalog: withBilledApiCalls });

const finalsOf = (subscription: string) => invoicesOf(api, subscription, "subscription_final");
const renewalsOf = (subscription: string) => invoicesOf(api, subscription);
const invoiceJson = (id: string) => invoiceJsonOf(api, id);
const subscriptionRow = async (id: string) =>
  (await api.database.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0];
const linesOf = async (id: string) =>
  (await invoiceJson(id)).lines.map((l: Record<string, unknown>) => [
    l.item,
    l.quantity,
    l.amount,
    l.period_start,
    l.period_end,
  ]);
/** n API calls, sent now; timestamped `timestamp` when given (a late event), else at receipt. */
async function calls(account: string, n: number, timestamp?: string) {
  const events = Array.from({ length: n }, (_, i) => ({
    id: `call_${i}_${randomBytes(4).toString("hex")}`,
    account,
    event: "api.call",
    ...(timestamp ? { timestamp } : {}),
  }));
  expect((await api.request("POST", "/v1/events", { events })).json()).toMatchObject({ accepted: n });
}
async function cancel(subscription: string, atPeriodEnd: boolean) {
  const r = await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, {
    at_period_end: atPeriodEnd,
  });
  expect(r.statusCode, r.body).toBe(200);
}
const renewAt = (iso: string, billing?: BillingContext) => renewAtOf(api, iso, billing);
const collectedFor = async (invoice: string) =>
  (await api.sandbox.collected()).filter((p) => p.idempotencyKey.startsWith(`uptier_${invoice}_`));

describe("the final invoice of an ended subscription", () => {
  it("canceled at period end: the last period's overage is invoiced once, finalized and charged", async () => {
    api.clock.set("2026-02-10T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-02-01T00:00:00Z" });
    await calls(c.account, 17);
    await cancel(c.subscription, true);
    expect((await subscriptionRow(c.subscription))?.cancelAt).toEqual(new Date("2026-03-01T00:00:00Z"));
    expect(await renewAt("2026-02-28T23:59:59Z")).toMatchObject({ final: 0 });
    expect(await finalsOf(c.subscription)).toEqual([]);

    expect(await renewAt("2026-03-01T00:00:10Z")).toMatchObject({ renewed: 0, final: 1 });
    await renewSubscriptions(api.billing); // a second run changes nothing
    expect(await runJobOnce(renewSubscriptionsJob, api.billing)).toBe(
      "Renewed 0 subscription periods: 0 finalized, 0 paid, 0 payment failed.",
    );
    const [final, ...more] = await finalsOf(c.subscription);
    expect(more).toEqual([]);
    expect(await renewalsOf(c.subscription)).toEqual([]); // no March
    const id = final?.id as string;
    // 17 calls, 10 granted: 7 over, two started packages of 5 at $2
    expect(await linesOf(id)).toEqual([
      ["overage:api_calls", 7, 400, "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
    ]);
    expect(await invoiceJson(id)).toMatchObject({
      status: "paid",
      billing_reason: "subscription_final",
      subtotal: 400,
      amount_paid: 400,
    });
    expect(final).toMatchObject({
      periodStart: new Date("2026-02-01T00:00:00Z"),
      periodEnd: new Date("2026-03-01T00:00:00Z"),
    });
    expect(final?.number).toMatch(/^UPT-\d{6}$/);
    expect((await collectedFor(id)).map((p) => p.amount)).toEqual([400]);
    expect(await subscriptionRow(c.subscription)).toMatchObject({ finalUsage: "invoiced" });
    const types = (
      await api.database.db
        .select()
        .from(domainEvents)
        .where(eq(domainEvents.accountId, c.account))
        .orderBy(domainEvents.seq)
    ).map((e) => e.type);
    expect(types.filter((t) => t.startsWith("invoice."))).toEqual([
      "invoice.created",
      "invoice.finalized",
      "invoice.paid",
    ]);
  });

  it("canceled at once mid-period: the overage up to the cancellation, the period cut there", async () => {
    api.clock.set("2026-03-05T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-03-01T00:00:00Z" });
    await calls(c.account, 12);
    api.clock.set("2026-03-15T12:00:00Z");
    await cancel(c.subscription, false);
    await renewAt("2026-03-15T12:00:30Z");
    const [final] = await finalsOf(c.subscription);
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 2, 200, "2026-03-01T00:00:00.000Z", "2026-03-15T12:00:00.000Z"],
    ]);
    expect(await invoiceJson(final?.id as string)).toMatchObject({ status: "paid", amount_paid: 200 });
  });

  it("no overage: no invoice (never a zero one), settled as none and not asked about again", async () => {
    api.clock.set("2026-03-20T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-03-01T00:00:00Z" });
    await calls(c.account, 10); // exactly the grant
    await cancel(c.subscription, true);
    const report = await renewAt("2026-04-01T00:00:10Z");
    expect(report.final).toBe(0);
    expect(await finalsOf(c.subscription)).toEqual([]);
    expect(await subscriptionRow(c.subscription)).toMatchObject({
      finalUsage: "none",
      finalUsageAt: new Date("2026-04-01T00:00:10Z"),
    });
  });

  it("canceled before the renewal job ran in the new period: the period before is billed too", async () => {
    api.clock.set("2026-04-05T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-04-01T00:00:00Z" });
    await calls(c.account, 15);
    api.clock.set("2026-05-01T00:00:05Z"); // May's renewal is not drafted yet
    await cancel(c.subscription, false);
    await renewAt("2026-05-01T00:01:00Z");
    expect(await renewalsOf(c.subscription)).toEqual([]);
    const [final] = await finalsOf(c.subscription);
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 5, 200, "2026-04-01T00:00:00.000Z", "2026-05-01T00:00:00.000Z"],
    ]);
    expect(final?.periodEnd).toEqual(new Date("2026-05-01T00:00:05Z"));
  });

  it("the job ran late: the renewal of the period before the end first (with its overage), then the final", async () => {
    api.clock.set("2026-06-20T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-06-01T00:00:00Z" });
    await calls(c.account, 13);
    api.clock.set("2026-07-01T00:00:05Z"); // July's renewal not drafted yet
    await cancel(c.subscription, true);
    expect((await subscriptionRow(c.subscription))?.cancelAt).toEqual(new Date("2026-08-01T00:00:00Z"));
    await calls(c.account, 16);
    // The job did not run in July at all. A worker reaching the final invoice before July's renewal
    // is drafted (another worker's run) does nothing: the renewal bills June's overage first.
    api.clock.set("2026-08-01T00:01:00Z");
    expect(await draftFinalInvoice(api.billing, c.subscription, api.clock())).toBeNull();
    expect(await subscriptionRow(c.subscription)).toMatchObject({ finalUsage: null });
    expect(await renewAt("2026-08-01T00:01:00Z")).toMatchObject({ renewed: 1, final: 1 });
    const [july] = await renewalsOf(c.subscription);
    expect(await linesOf(july?.id as string)).toEqual([
      ["plan", 1, 9900, "2026-07-01T00:00:00.000Z", "2026-08-01T00:00:00.000Z"],
      ["overage:api_calls", 3, 200, "2026-06-01T00:00:00.000Z", "2026-07-01T00:00:00.000Z"],
    ]);
    const [final] = await finalsOf(c.subscription);
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 6, 400, "2026-07-01T00:00:00.000Z", "2026-08-01T00:00:00.000Z"],
    ]);
    await renewAt("2026-08-02T00:00:00Z");
    expect(await renewalsOf(c.subscription)).toHaveLength(1);
    expect(await finalsOf(c.subscription)).toHaveLength(1);
  });

  it("declined: the final invoice is open and dunned like a renewal; a retry on a new card pays it", async () => {
    api.clock.set("2026-08-05T00:00:00Z");
    const c = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: "2026-08-01T00:00:00Z",
    });
    await calls(c.account, 11);
    api.clock.set("2026-08-10T00:00:00Z");
    await cancel(c.subscription, false);
    expect(await renewAt("2026-08-10T00:00:30Z")).toMatchObject({ final: 1, failed: 1 });
    const [final] = await finalsOf(c.subscription);
    const id = final?.id as string;
    expect(await invoiceJson(id)).toMatchObject({
      status: "open",
      amount_remaining: 200,
      next_payment_attempt: "2026-08-11T00:00:30.000Z",
    });
    expect((await subscriptionRow(c.subscription))?.status).toBe("canceled"); // stays canceled
    const pm = await api.request("POST", `/v1/accounts/${c.account}/payment_methods`, {
      token: "sandbox_visa",
      default: true,
    });
    expect(pm.statusCode, pm.body).toBe(201);
    api.clock.set("2026-08-11T00:00:30Z");
    expect(await retryInvoicePayments(api.billing)).toMatchObject({ attempted: 1, paid: 1 });
    expect(await invoiceJson(id)).toMatchObject({ status: "paid", amount_paid: 200 });
    const attempts = await api.database.db
      .select()
      .from(invoicePayments)
      .where(eq(invoicePayments.invoiceId, id))
      .orderBy(invoicePayments.attempt);
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
    expect((await collectedFor(id)).map((p) => p.amount)).toEqual([200]);
  });

  it("canceled as delinquent: the last period's usage is waived, no final invoice", async () => {
    api.clock.set("2026-09-03T00:00:00Z");
    const c = await customer(api, "starter", {
      token: "sandbox_expired_card",
      billing_cycle_anchor: "2026-09-01T00:00:00Z",
    });
    const billing = { ...api.billing, retryDays: [1, 3] };
    await renewAt("2026-10-01T00:00:10Z", billing);
    await calls(c.account, 14); // October's usage, above the grant
    for (const day of ["2026-10-02T00:00:10Z", "2026-10-04T00:00:10Z"]) {
      api.clock.set(day);
      await retryInvoicePayments(billing);
    }
    const [renewal] = await renewalsOf(c.subscription);
    expect(renewal?.status).toBe("uncollectible");
    expect(await subscriptionRow(c.subscription)).toMatchObject({
      status: "canceled",
      finalUsage: "waived",
      finalUsageAt: new Date("2026-10-04T00:00:10Z"),
    });
    expect(await renewAt("2026-10-04T00:01:00Z", billing)).toMatchObject({ final: 0 });
    expect(await finalsOf(c.subscription)).toEqual([]);
  });

  it("two workers at once make one final invoice and one charge", async () => {
    api.clock.set("2026-11-03T00:00:00Z");
    const cs = await Promise.all(
      [1, 2, 3].map(() => customer(api, "starter", { billing_cycle_anchor: "2026-11-01T00:00:00Z" })),
    );
    for (const c of cs) {
      await calls(c.account, 21);
      await cancel(c.subscription, true);
    }
    api.clock.set("2026-12-01T00:00:10Z");
    await Promise.all([
      renewSubscriptions(api.billing),
      renewSubscriptions(api.billing),
      retryInvoicePayments(api.billing),
    ]);
    for (const c of cs) {
      const finals = await finalsOf(c.subscription);
      expect(finals.map((f) => [f.status, f.subtotal])).toEqual([["paid", 600]]);
      expect(await collectedFor(finals[0]?.id as string)).toHaveLength(1);
    }
  });
});

/**
 * Usage around the end: an event timestamped before the end counts in the ended subscription's
 * period (also a late one, arriving after the end), and one at or after the end in a window that
 * starts at the end (core's usageWindowAt), which no invoice of the ended subscription reads.
 */
describe("usage sent around the end of a subscription", () => {
  const usageOf = async (account: string) => {
    const r = await api.request("GET", `/v1/accounts/${account}/usage`);
    expect(r.statusCode, r.body).toBe(200);
    return r.json();
  };
  const apiCallsOf = async (account: string) =>
    (await usageOf(account)).features.find((f: { feature: string }) => f.feature === "api_calls");

  it("anchor on the 1st, canceled at once: usage after the end is not billed, a late event before it is", async () => {
    api.clock.set("2027-01-05T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2027-01-01T00:00:00Z" });
    await calls(c.account, 12);
    api.clock.set("2027-01-15T12:00:00Z");
    await cancel(c.subscription, false);
    await calls(c.account, 20); // at the end instant itself: after the end
    api.clock.set("2027-01-15T12:00:20Z");
    await calls(c.account, 3, "2027-01-15T11:59:59.999Z"); // late, from the last moment before the end
    await calls(c.account, 4); // after the end
    // the canceled account's usage is that of the window begun at the end, never the period's
    expect(await usageOf(c.account)).toMatchObject({ period: null });
    expect(await apiCallsOf(c.account)).toMatchObject({
      used: 24,
      limit: null,
      period_start: "2027-01-15T12:00:00.000Z",
      resets_at: "2027-02-01T00:00:00.000Z",
    });
    const check = await api.request("POST", "/v1/check", { account: c.account, feature: "api_calls" });
    expect(check.json()).toMatchObject({ allowed: false, reason: "account_inactive" });

    expect(await renewAt("2027-01-15T12:00:30Z")).toMatchObject({ final: 1 });
    const [final] = await finalsOf(c.subscription);
    // 12 + 3 calls before the end, 10 granted: 5 over, one started package of 5 at $2
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 5, 200, "2027-01-01T00:00:00.000Z", "2027-01-15T12:00:00.000Z"],
    ]);
  });

  it("anchor on the 31st, canceled at once: a late event timestamped before the end is billed on the final invoice", async () => {
    api.clock.set("2027-03-02T00:00:00Z"); // in the period [Feb 28, Mar 31)
    const c = await customer(api, "starter", { billing_cycle_anchor: "2027-01-31T00:00:00Z" });
    await calls(c.account, 11);
    api.clock.set("2027-03-20T08:00:00Z");
    await cancel(c.subscription, false);
    api.clock.set("2027-03-20T08:05:00Z");
    await calls(c.account, 7, "2027-03-18T00:00:00Z"); // late: before the end, within the late window
    await calls(c.account, 30); // after the end
    expect(await apiCallsOf(c.account)).toMatchObject({
      used: 30,
      period_start: "2027-03-20T08:00:00.000Z",
      resets_at: "2027-04-01T00:00:00.000Z",
    });

    await renewAt("2027-03-20T08:06:00Z");
    const [final] = await finalsOf(c.subscription);
    // 11 + 7 calls before the end: 8 over, two started packages of 5
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 8, 400, "2027-02-28T00:00:00.000Z", "2027-03-20T08:00:00.000Z"],
    ]);
  });

  it("canceled at period end, anchor mid-month: a late event after the end counts in the last period; a new subscription is followed", async () => {
    api.clock.set("2027-04-20T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2027-04-15T00:00:00Z" });
    await calls(c.account, 10);
    await cancel(c.subscription, true);
    // the cancellation has taken effect; its stored status has not caught up yet
    api.clock.set("2027-05-15T00:00:20Z");
    await calls(c.account, 4, "2027-05-14T23:59:00Z");
    await calls(c.account, 9);
    expect(await apiCallsOf(c.account)).toMatchObject({
      used: 9,
      period_start: "2027-05-15T00:00:00.000Z",
      resets_at: "2027-06-01T00:00:00.000Z",
    });
    await renewAt("2027-05-15T00:00:30Z");
    const [final] = await finalsOf(c.subscription);
    expect(await linesOf(final?.id as string)).toEqual([
      ["overage:api_calls", 4, 200, "2027-04-15T00:00:00.000Z", "2027-05-15T00:00:00.000Z"],
    ]);

    // subscribed again: usage follows the new subscription's periods, from zero
    api.clock.set("2027-05-20T00:00:00Z");
    const again = await api.request("POST", "/v1/subscriptions", {
      account: c.account,
      plan: "starter",
      billing_cycle_anchor: "2027-05-20T00:00:00Z",
    });
    expect(again.statusCode, again.body).toBe(201);
    await calls(c.account, 2);
    expect(await usageOf(c.account)).toMatchObject({
      period: { start: "2027-05-20T00:00:00.000Z", end: "2027-06-20T00:00:00.000Z" },
    });
    expect(await apiCallsOf(c.account)).toMatchObject({
      used: 2,
      limit: 10,
      period_start: "2027-05-20T00:00:00.000Z",
    });
  });
});
