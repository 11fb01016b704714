import { beforeAll, describe, expect, it } from "vitest";
import { applyScheduledChanges } from "../../src/services/subscriptions/scheduled-changes.ts";
import { type BillingApi, customer, quoteOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * The revenue metrics over HTTP (docs/metrics.md, "API"), on a history scripted through the real
 * API under the app's clock, against MRR computed by hand. On PGlite, and on PostgreSQL with
 * UPTIER_TEST_DB=postgres.
 *
 * Starter $99 (5 seats included, $15 a seat beyond), Pro $249 (10 included), SSO $49:
 * - Jan 17: A on Starter ($99); B on Pro with SSO ($298); C on a 14-day Starter trial (ends Jan 31).
 * - Feb 10: A adds 3 seats ($144: +$45).
 * - Feb 12: B downgrades to Starter without SSO at the period end, Mar 1 ($174: 10 seats, −$124).
 * - Mar 5: A cancels at the period end, Apr 1 (−$144).
 * - Mar 20: C upgrades to Pro ($249: +$150).
 */
const api: BillingApi = useBillingApi();
let a: Awaited<ReturnType<typeof customer>>;
let b: Awaited<ReturnType<typeof customer>>;
let c: Awaited<ReturnType<typeof customer>>;

async function buy(account: { account: string; admin: string }, change: Record<string, unknown>) {
  const quote = await quoteOf(api, account.account, change);
  const done = await api.request("POST", "/v1/checkout", { quote: quote.id, member: account.admin });
  expect(done.json(), done.body).toMatchObject({ status: "succeeded" });
}

beforeAll(async () => {
  api.clock.set("2026-01-17T10:00:00Z");
  a = await customer(api, "starter");
  b = await customer(api, "pro", {
    seats: 10,
    add_ons: [{ key: "sso" }],
    billing_cycle_anchor: "2026-01-01T00:00:00Z",
  });
  c = await customer(api, "starter", { trial_days: 14 } as Parameters<typeof customer>[2]);
  api.clock.set("2026-02-10T09:00:00Z");
  await buy(a, { seats: 8 });
  api.clock.set("2026-02-12T09:00:00Z");
  await buy(b, { plan: "starter", add_ons: [] });
  api.clock.set("2026-03-02T00:00:00Z");
  await applyScheduledChanges(api.billing);
  api.clock.set("2026-03-05T09:00:00Z");
  const cancel = await api.request("POST", `/v1/subscriptions/${a.subscription}/cancel`, {
    at_period_end: true,
  });
  expect(cancel.json()).toMatchObject({ cancel_at: "2026-04-01T00:00:00.000Z" });
  api.clock.set("2026-03-20T09:00:00Z");
  await buy(c, { plan: "pro" });
  api.clock.set("2026-05-03T12:00:00Z");
});

const get = async (url: string) => {
  const response = await api.request("GET", url);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

describe("GET /v1/metrics/mrr", () => {
  it("MRR at each month's close, as computed by hand", async () => {
    const body = await get("/v1/metrics/mrr?from=2026-01-01T00:00:00Z&to=2026-05-01T00:00:00Z");
    expect(body).toMatchObject({ object: "mrr_series", currency: "usd", interval: "month" });
    expect(body.data.map((p: Record<string, unknown>) => [p.start, p.mrr, p.customers, p.arpa])).toEqual([
      ["2026-01-01T00:00:00.000Z", 49_600, 3, 16_533], // 9900 + 29 800 + 9900 (the trial converted on Jan 31)
      ["2026-02-01T00:00:00.000Z", 54_100, 3, 18_033],
      ["2026-03-01T00:00:00.000Z", 56_700, 3, 18_900],
      ["2026-04-01T00:00:00.000Z", 42_300, 2, 21_150],
    ]);
    expect(body.data[0]).toMatchObject({ committed_mrr: 49_600, usage_mrr: 0, annual_mrr_share: 0 });
  });

  it("defaults to the months of the twelve before now", async () => {
    const body = await get("/v1/metrics/mrr");
    expect(body).toMatchObject({ from: "2025-05-03T12:00:00.000Z", to: "2026-05-03T12:00:00.000Z" });
    expect(body.data).toHaveLength(13);
    expect(body.data.at(-1)).toMatchObject({ start: "2026-05-01T00:00:00.000Z", mrr: 42_300 });
  });

  it("agrees with billing: today's MRR is the recurring amount of every subscription in force", async () => {
    const list = await get("/v1/subscriptions?limit=100");
    const billed = list.data
      .filter((sub: { status: string }) => sub.status === "active" || sub.status === "past_due")
      .reduce((sum: number, sub: { recurring: { amount: number } }) => sum + sub.recurring.amount, 0);
    expect(billed).toBe(42_300);
    const today = await get("/v1/metrics/mrr?from=2026-05-03T00:00:00Z&interval=day");
    expect(today.data.at(-1)).toMatchObject({ mrr: billed, customers: 2 });
  });

  it("a trial is no revenue until it ends", async () => {
    const body = await get("/v1/metrics/mrr?from=2026-01-29T00:00:00Z&to=2026-02-01T00:00:00Z&interval=day");
    expect(body.data.map((p: { mrr: number }) => p.mrr)).toEqual([39_700, 39_700, 49_600]);
  });
});

describe("GET /v1/metrics/movements", () => {
  it("each month's movements, netted per customer, tagged by source", async () => {
    const body = await get("/v1/metrics/movements?from=2026-01-01T00:00:00Z&to=2026-05-01T00:00:00Z");
    const rows = body.data.map((m: Record<string, unknown>) => [
      m.opening_mrr,
      m.new,
      m.expansion,
      m.contraction,
      m.churn,
      m.reactivation,
      m.closing_mrr,
    ]);
    expect(rows).toEqual([
      [0, 49_600, 0, 0, 0, 0, 49_600],
      [49_600, 0, 4500, 0, 0, 0, 54_100],
      [54_100, 0, 15_000, 12_400, 0, 0, 56_700],
      [56_700, 0, 0, 0, 14_400, 0, 42_300],
    ]);
    expect(body.data[1].expansion_by_source).toMatchObject({ seats: 4500, plan: 0 });
    expect(body.data[2].expansion_by_source).toMatchObject({ plan: 15_000 });
    expect(body.data[2].contraction_by_source).toMatchObject({ plan: 7500, add_on: 4900, seats: 0 });
    expect(body.data[3]).toMatchObject({ customers: { churn: 1 }, logo_churn_rate: 33.33, quick_ratio: 0 });
    expect(body.data[2]).toMatchObject({
      quick_ratio: 1.21,
      net_negative_churn: true,
      average_expansion: 15_000,
    });
    // the range as one bucket: A expanded, then churned: one churn of what A paid on Jan 1
    expect(body.total).toMatchObject({ opening_mrr: 0, new: 42_300, closing_mrr: 42_300 });
  });

  it("filters by the plan each customer was on at the bucket's opening, and by segment", async () => {
    const range = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z";
    const starter = await get(`/v1/metrics/movements?${range}&plan=starter`);
    expect(starter.data[0]).toMatchObject({ opening_mrr: 24_300, expansion: 15_000, contraction: 0 });
    const pro = await get(`/v1/metrics/movements?${range}&plan=pro`);
    expect(pro.data[0]).toMatchObject({ opening_mrr: 29_800, contraction: 12_400, closing_mrr: 17_400 });
    const enterprise = await get(`/v1/metrics/movements?${range}&segment=enterprise`);
    expect(enterprise.data[0]).toMatchObject({ opening_mrr: 0, closing_mrr: 0 });
    const smb = await get(`/v1/metrics/movements?${range}&segment=smb`);
    expect(smb.data[0]).toMatchObject({ opening_mrr: 54_100, closing_mrr: 56_700 });
  });

  it("a cancellation moves MRR when it takes effect, not when it is asked for", async () => {
    const body = await get(
      "/v1/metrics/movements?from=2026-03-05T00:00:00Z&to=2026-03-06T00:00:00Z&interval=day",
    );
    expect(body.data[0]).toMatchObject({ churn: 0, opening_mrr: 41_700, closing_mrr: 41_700 });
    const april = await get(
      "/v1/metrics/movements?from=2026-04-01T00:00:00Z&to=2026-04-02T00:00:00Z&interval=day",
    );
    expect(april.data[0]).toMatchObject({ churn: 14_400, closing_mrr: 42_300 });
  });
});

describe("GET /v1/metrics/retention", () => {
  it("NRR and GRR of the February cohort through April, whole and by plan", async () => {
    const body = await get(
      "/v1/metrics/retention?from=2026-02-01T00:00:00Z&to=2026-05-01T00:00:00Z&group_by=plan",
    );
    expect(body).toMatchObject({
      object: "retention",
      customers: 3,
      retained_customers: 2,
      start_mrr: 49_600,
      expansion: 15_000,
      contraction: 12_400,
      churn: 9900,
      end_mrr: 42_300,
      nrr: 85.28,
      grr: 55.04,
      nrr_band: "leaky_bucket",
    });
    expect(body.groups).toEqual([
      expect.objectContaining({ group: "pro", start_mrr: 29_800, end_mrr: 17_400, nrr: 58.39 }),
      expect.objectContaining({ group: "starter", start_mrr: 19_800, end_mrr: 24_900, nrr: 125.76 }),
    ]);
  });

  it("defaults to the trailing twelve months to now, whose cohort is empty here", async () => {
    const body = await get("/v1/metrics/retention");
    expect(body).toMatchObject({ from: "2025-05-03T12:00:00.000Z", to: "2026-05-03T12:00:00.000Z" });
    expect(body).toMatchObject({ customers: 0, nrr: null, grr: null, nrr_band: null });
  });
});

describe("bad queries are refused 400 with a stable code", () => {
  it.each([
    ["from after to", "/v1/metrics/mrr?from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z", "invalid_range"],
    [
      "an empty range",
      "/v1/metrics/movements?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z",
      "invalid_range",
    ],
    [
      "too many buckets",
      "/v1/metrics/movements?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=day",
      "range_too_large",
    ],
    [
      "retention from after to",
      "/v1/metrics/retention?from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z",
      "invalid_range",
    ],
    ["not an instant", "/v1/metrics/mrr?from=yesterday", "invalid_request"],
    ["an unknown interval", "/v1/metrics/mrr?from=2026-01-01T00:00:00Z&interval=year", "invalid_request"],
    ["an unknown segment", "/v1/metrics/movements?from=2026-01-01T00:00:00Z&segment=huge", "invalid_request"],
    ["an unknown group", "/v1/metrics/retention?group_by=color", "invalid_request"],
    ["an unknown parameter", "/v1/metrics/mrr?from=2026-01-01T00:00:00Z&limit=3", "invalid_request"],
    ["a bad currency", "/v1/metrics/mrr?from=2026-01-01T00:00:00Z&currency=USD", "invalid_request"],
  ])("%s", async (_, url, code) => {
    const response = await api.request("GET", url);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.headers["content-type"]).toContain("application/problem+json");
    expect(response.json().code).toBe(code);
  });

  it("another currency has no revenue", async () => {
    const body = await get("/v1/metrics/mrr?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z&currency=eur");
    expect(body).toMatchObject({
      currency: "eur",
      data: [expect.objectContaining({ mrr: 0, customers: 0 })],
    });
  });
});
