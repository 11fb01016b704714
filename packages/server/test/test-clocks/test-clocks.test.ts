import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { invoicePayments, testClocks } from "../../src/db/schema/index.ts";
import { gatewaySet } from "../../src/gateways/gateway.ts";
import { StripeGateway } from "../../src/gateways/stripe.ts";
import { retryInvoicePayments } from "../../src/services/invoices/collection.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { advanceTestClock, startAdvance } from "../../src/services/test-clocks/advance.ts";
import {
  type BillingApi,
  chargesFor,
  invoicesOf,
  ProcessCrash,
  useBillingApi,
} from "../support/billing-harness.ts";
import { authenticatedRequests } from "../support/harness.ts";

/**
 * Test clocks over the API: a year of a monthly subscription advanced on a clock, with a declined
 * renewal recovered by dunning and a downgrade at period end, every invoice checked against the
 * catalog's prices; a crash in the middle of an advance; the refusals.
 */
const api: BillingApi = useBillingApi();

// The demo catalog: Pro $249 a month with 10 seats included, Starter $99 with 5; $15 a seat beyond.
const PRO_12_SEATS = 24_900 + 2 * 1500;
const STARTER_12_SEATS = 9900 + 7 * 1500;

async function newClock(frozenTime: string) {
  const response = await api.request("POST", "/v1/test_clocks", { frozen_time: frozenTime, name: "a year" });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().id as string;
}

/** Advances over the API and waits until the clock says it is done. */
async function advance(clock: string, to: string) {
  const started = await api.request("POST", `/v1/test_clocks/${clock}/advance`, { to });
  expect(started.statusCode, started.body).toBe(200);
  expect(started.json()).toMatchObject({ status: "advancing", advancing_to: new Date(to).toISOString() });
  for (let waited = 0; waited < 240_000; waited += 50) {
    const view = (await api.request("GET", `/v1/test_clocks/${clock}`)).json();
    if (view.status === "ready") return view;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`test clock ${clock} did not finish advancing to ${to}`);
}

/** A Pro customer with 12 seats on the clock, subscribed at its time, paying by card. */
async function customerOnClock(clock: string, externalId: string) {
  const account = await api.request("POST", "/v1/accounts", {
    external_id: externalId,
    name: "Clocked Ltd",
    test_clock: clock,
  });
  expect(account.statusCode, account.body).toBe(201);
  const id = account.json().id as string;
  const subscription = await api.request("POST", "/v1/subscriptions", {
    account: id,
    plan: "pro",
    seats: 12,
  });
  expect(subscription.statusCode, subscription.body).toBe(201);
  const admin = await api.request("POST", `/v1/accounts/${id}/members`, {
    email: `admin@${externalId}.test`,
    role: "admin",
    status: "active",
    user_id: `admin_${externalId}`,
  });
  expect(admin.statusCode, admin.body).toBe(201);
  await attachCard(id, "sandbox_visa");
  return {
    account: account.json(),
    subscription: subscription.json(),
    admin: admin.json().id as string,
  };
}

async function attachCard(account: string, token: string) {
  const pm = await api.request("POST", `/v1/accounts/${account}/payment_methods`, { token, default: true });
  expect(pm.statusCode, pm.body).toBe(201);
}

const renewals = async (subscription: string) =>
  (await invoicesOf(api, subscription)).map((i) => ({
    period: i.periodStart?.toISOString().slice(0, 10),
    total: i.amountDue,
    status: i.status,
  }));

const months = (from: number, to: number, year = 2026) =>
  Array.from({ length: to - from + 1 }, (_, i) => {
    const m = from + i;
    const date = new Date(Date.UTC(year, m - 1, 1));
    return date.toISOString().slice(0, 10);
  });

describe("a year on a test clock", () => {
  it("12 renewals, a declined one recovered by dunning, a downgrade at period end, every invoice checked", async () => {
    const clock = await newClock("2026-01-01T00:00:00Z");
    const c = await customerOnClock(clock, "clocked-year");
    // everything of the account happened at the clock's time, not the server's (Jan 17)
    expect(c.account).toMatchObject({ test_clock: clock, created: "2026-01-01T00:00:00.000Z" });
    expect(c.subscription).toMatchObject({
      status: "active",
      seats: 12,
      billing_cycle_anchor: "2026-01-01T00:00:00.000Z",
      current_period_end: "2026-02-01T00:00:00.000Z",
    });
    expect((await api.request("GET", `/v1/test_clocks/${clock}`)).json()).toMatchObject({
      status: "ready",
      frozen_time: "2026-01-01T00:00:00.000Z",
      accounts: 1,
    });

    // Feb 1 and Mar 1: Pro renewals, paid
    expect(await advance(clock, "2026-03-15T00:00:00Z")).toMatchObject({
      frozen_time: "2026-03-15T00:00:00.000Z",
      advancing_to: null,
    });
    expect(await renewals(c.subscription.id)).toEqual(
      months(2, 3).map((period) => ({ period, total: PRO_12_SEATS, status: "paid" })),
    );

    // Apr 1: the card has no funds; the renewal stays open, the subscription past due
    await attachCard(c.account.id, "sandbox_card_4000000000009995");
    await advance(clock, "2026-04-01T12:00:00Z");
    const [april] = (await invoicesOf(api, c.subscription.id)).slice(-1);
    expect(april).toMatchObject({ amountDue: PRO_12_SEATS, status: "open" });
    expect(april?.nextPaymentAttempt?.toISOString()).toBe("2026-04-02T00:00:00.000Z");
    expect((await api.request("GET", `/v1/subscriptions/${c.subscription.id}`)).json().status).toBe(
      "past_due",
    );

    // a new card; dunning's retry on Apr 2 pays it
    await attachCard(c.account.id, "sandbox_card_4242424242424242");
    await advance(clock, "2026-07-10T00:00:00Z");
    const attempts = await api.database.db
      .select()
      .from(invoicePayments)
      .where(eq(invoicePayments.invoiceId, april?.id as string))
      .orderBy(invoicePayments.attempt);
    expect(attempts.map((a) => [a.attempt, a.status, a.failureCode, a.createdAt.toISOString()])).toEqual([
      [1, "failed", "insufficient_funds", "2026-04-01T00:00:00.000Z"],
      [2, "succeeded", null, "2026-04-02T00:00:00.000Z"],
    ]);
    expect((await api.request("GET", `/v1/subscriptions/${c.subscription.id}`)).json().status).toBe("active");

    // Jul 10: a downgrade to Starter, quoted and checked out at the clock's time, waits for Aug 1
    const quote = await api.request("POST", "/v1/quotes", { account: c.account.id, plan: "starter" });
    expect(quote.statusCode, quote.body).toBe(201);
    expect(quote.json()).toMatchObject({ timing: "period_end", amount_due: 0 });
    const checkout = await api.request("POST", "/v1/checkout", { quote: quote.json().id, member: c.admin });
    expect(checkout.json(), checkout.body).toMatchObject({ status: "succeeded" });
    const scheduled = (await api.request("GET", `/v1/subscriptions/${c.subscription.id}`)).json();
    expect(scheduled).toMatchObject({
      plan: "pro",
      scheduled_change: { effective_at: "2026-08-01T00:00:00.000Z" },
    });
    // reads happen at the clock's time, and none applies the change early, however late the server's
    api.clock.set("2026-12-01T00:00:00Z");
    try {
      expect((await api.request("GET", `/v1/subscriptions/${c.subscription.id}`)).json()).toMatchObject({
        plan: "pro",
        current_period_start: "2026-07-01T00:00:00.000Z",
        scheduled_change: { effective_at: "2026-08-01T00:00:00.000Z" },
      });
      const listed = (await api.request("GET", `/v1/subscriptions?account=${c.account.id}`)).json().data;
      expect(listed.map((s: { plan: string }) => s.plan)).toEqual(["pro"]);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }

    const done = await advance(clock, "2027-01-01T00:00:00Z");
    expect(done).toMatchObject({ status: "ready", frozen_time: "2027-01-01T00:00:00.000Z" });
    expect((await api.request("GET", `/v1/subscriptions/${c.subscription.id}`)).json()).toMatchObject({
      plan: "starter",
      seats: 12,
      status: "active",
    });
    const year = [
      ...months(2, 7).map((period) => ({ period, total: PRO_12_SEATS, status: "paid" })),
      ...[...months(8, 12), "2027-01-01"].map((period) => ({
        period,
        total: STARTER_12_SEATS,
        status: "paid",
      })),
    ];
    expect(await renewals(c.subscription.id)).toEqual(year);
    // each paid once: what the gateway collected is the sum of the 12 renewals
    const collected = (await chargesFor(api, c.account.id)).map((p) => p.amount);
    expect(collected).toHaveLength(12);
    expect(collected.reduce((s, a) => s + a, 0)).toBe(6 * PRO_12_SEATS + 6 * STARTER_12_SEATS);

    // Idempotent: the real-time jobs, even a year on, never touch an account on a clock…
    api.clock.set("2028-06-01T00:00:00Z");
    try {
      await renewSubscriptions(api.billing);
      await retryInvoicePayments(api.billing);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
    expect(await renewals(c.subscription.id)).toEqual(year);
    // …and an advance run again once the clock is ready does nothing
    expect(await advanceTestClock({ billing: api.billing, playbook: async () => null }, clock)).toBeNull();
    expect(await renewals(c.subscription.id)).toEqual(year);
  });
});

describe("a crash in the middle of an advance", () => {
  it("resumes from the last step it committed and charges each renewal once", async () => {
    const clock = await newClock("2026-01-01T00:00:00Z");
    const c = await customerOnClock(clock, "clocked-crash");
    await api.database.db.transaction((tx) => startAdvance(tx, clock, new Date("2026-05-01T00:00:00Z")));
    const ctx = { billing: api.billing, playbook: async () => null };
    // the process dies right after the gateway charged the March renewal (the account's second)
    let charged = 0;
    api.gateway.afterCharge = (request) => {
      if (request.metadata.account === c.account.id && ++charged === 2) throw new ProcessCrash("died");
    };
    await expect(advanceTestClock(ctx, clock)).rejects.toThrow(ProcessCrash);
    api.gateway.afterCharge = null;
    const [stopped] = await api.database.db.select().from(testClocks).where(eq(testClocks.id, clock));
    // the step that crashed was not committed: the clock stands where the last one ended (Feb 1)
    expect(stopped).toMatchObject({ status: "advancing", frozenTime: new Date("2026-02-01T00:00:00Z") });
    expect(stopped?.leaseUntil).toBeNull();

    const report = await advanceTestClock(ctx, clock);
    expect(report).toMatchObject({ frozenTime: new Date("2026-05-01T00:00:00Z") });
    expect(await renewals(c.subscription.id)).toEqual(
      months(2, 5).map((period) => ({ period, total: PRO_12_SEATS, status: "paid" })),
    );
    const charges = await chargesFor(api, c.account.id);
    expect(charges.map((p) => p.amount)).toEqual(months(2, 5).map(() => PRO_12_SEATS));
    const february = (await invoicesOf(api, c.subscription.id))[0];
    const keys = api.sandbox.requests
      .filter((r) => r.metadata.invoice === february?.id)
      .map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(1);
  });
});

describe("refusals", () => {
  it("backwards, to its own time, an unknown clock, a clock on an account that does not exist", async () => {
    const clock = await newClock("2026-06-01T00:00:00Z");
    for (const to of ["2026-05-31T23:59:59Z", "2026-06-01T00:00:00Z"]) {
      const response = await api.request("POST", `/v1/test_clocks/${clock}/advance`, { to });
      expect(response.statusCode).toBe(422);
      expect(response.json()).toMatchObject({ code: "test_clock_backwards", param: "to" });
    }
    expect((await api.request("GET", `/v1/test_clocks/${clock}`)).json()).toMatchObject({
      status: "ready",
      frozen_time: "2026-06-01T00:00:00.000Z",
      steps: 0,
    });
    const unknown = await api.request("POST", "/v1/test_clocks/clock_0unknown/advance", {
      to: "2027-01-01T00:00:00Z",
    });
    expect(unknown.json()).toMatchObject({ status: 404, code: "resource_not_found" });
    const account = await api.request("POST", "/v1/accounts", {
      external_id: "on-no-such-clock",
      name: "Nobody",
      test_clock: "clock_0unknown",
    });
    expect(account.statusCode).toBe(404);
    expect(account.json()).toMatchObject({ code: "resource_not_found", param: "test_clock" });
    expect((await api.request("GET", "/v1/accounts?external_id=on-no-such-clock")).json().data).toEqual([]);
    for (const body of [
      {},
      { frozen_time: "yesterday" },
      { frozen_time: "2026-01-01T00:00:00Z", extra: 1 },
    ]) {
      const bad = await api.request("POST", "/v1/test_clocks", body);
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
    }
  });

  it("another target while advancing is refused; a deleted clock is gone and its accounts stay frozen", async () => {
    const clock = await newClock("2026-01-01T00:00:00Z");
    await api.database.db.transaction((tx) => startAdvance(tx, clock, new Date("2026-02-01T00:00:00Z")));
    const other = await api.request("POST", `/v1/test_clocks/${clock}/advance`, {
      to: "2026-03-01T00:00:00Z",
    });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ code: "test_clock_advancing" });
    const busy = await api.request("DELETE", `/v1/test_clocks/${clock}`);
    expect(busy.json()).toMatchObject({ code: "test_clock_advancing" });
    await advanceTestClock({ billing: api.billing, playbook: async () => null }, clock);

    const listed = (await api.request("GET", "/v1/test_clocks?limit=100"))
      .json()
      .data.map((c: { id: string }) => c.id);
    expect(listed).toContain(clock);
    const deleted = await api.request("DELETE", `/v1/test_clocks/${clock}`);
    expect(deleted.json()).toEqual({ id: clock, object: "test_clock", deleted: true });
    expect((await api.request("GET", `/v1/test_clocks/${clock}`)).statusCode).toBe(404);
    const after = (await api.request("GET", "/v1/test_clocks?limit=100"))
      .json()
      .data.map((c: { id: string }) => c.id);
    expect(after).not.toContain(clock);
    const account = await api.request("POST", "/v1/accounts", {
      external_id: "on-a-deleted-clock",
      name: "Late",
      test_clock: clock,
    });
    expect(account.statusCode).toBe(404);
  });

  it("a live gateway never charges an account on a clock", async () => {
    const clock = await newClock("2026-01-01T00:00:00Z");
    const app = await buildApp({
      db: api.database.db,
      clock: api.clock,
      logLevel: "silent",
      gateways: gatewaySet(api.gateway, new StripeGateway({ secretKey: "sk_test_never_called" })),
    });
    try {
      const request = authenticatedRequests({ app, secret: api.secret });
      const account = (
        await request("POST", "/v1/accounts", {
          external_id: "clocked-live",
          name: "Live",
          test_clock: clock,
        })
      ).json();
      const live = await request("POST", `/v1/accounts/${account.id}/payment_methods`, {
        gateway: "stripe",
        token: "pm_card_visa",
        customer: "cus_123",
      });
      expect(live.statusCode).toBe(422);
      expect(live.json()).toMatchObject({ code: "test_clock_live_gateway", param: "gateway" });
      expect((await request("GET", `/v1/accounts/${account.id}/payment_methods`)).json().data).toEqual([]);
      const sandbox = await request("POST", `/v1/accounts/${account.id}/payment_methods`, {
        token: "sandbox_visa",
      });
      expect(sandbox.statusCode).toBe(201);
    } finally {
      await app.close();
    }
  });
});
