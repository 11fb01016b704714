import { describe, expect, it } from "vitest";
import { type BillingApi, customer, quoteOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * A POST with no body at all (no content type, nothing sent — what most HTTP clients send for a
 * bodiless POST) is `{}` on a route whose body may be `{}`, and still refused elsewhere
 * (http/plugins/input-guard.ts). On PGlite, and on PostgreSQL with UPTIER_TEST_DB=postgres.
 */
const api: BillingApi = useBillingApi();

/** A request exactly as sent: no payload, no content type unless given. */
const bare = (method: "POST" | "PATCH", url: string, headers: Record<string, string> = {}) =>
  api.app.inject({ method, url, headers: { authorization: `Bearer ${api.secret}`, ...headers } });

async function withReductionScheduled() {
  api.clock.set("2026-01-17T00:00:00Z");
  const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z", seats: 8 });
  const down = await quoteOf(api, c.account, { seats: 6 });
  const done = await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin });
  expect(done.json()).toMatchObject({ status: "succeeded" });
  return c;
}

describe("a POST with no body", () => {
  it("cancels a scheduled change, as with {}", async () => {
    const c = await withReductionScheduled();
    const response = await bare("POST", `/v1/subscriptions/${c.subscription}/scheduled_change/cancel`);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ seats: 8, scheduled_change: null });
    // and past the body, the route's own answers: nothing left to cancel
    const again = await bare("POST", `/v1/subscriptions/${c.subscription}/scheduled_change/cancel`);
    expect([again.statusCode, again.json().code]).toEqual([409, "no_scheduled_change"]);
  });

  it("cancels a subscription at the period end, the body's default", async () => {
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    const response = await bare("POST", `/v1/subscriptions/${c.subscription}/cancel`);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ cancel_at_period_end: true, status: "active" });
  });

  it("with an Idempotency-Key is the same request as {}: the retry with {} is its replay", async () => {
    const c = await withReductionScheduled();
    const key = { "idempotency-key": `bare-${c.subscription}` };
    const url = `/v1/subscriptions/${c.subscription}/scheduled_change/cancel`;
    const first = await bare("POST", url, key);
    expect(first.statusCode).toBe(200);
    const replay = await api.request("POST", url, {}, key);
    expect(replay.statusCode).toBe(200);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body).toBe(first.body);
  });

  it("is still refused where {} is not a valid body, naming the body", async () => {
    for (const url of ["/v1/quotes", "/v1/checkout", "/v1/accounts"]) {
      const response = await bare("POST", url);
      expect([url, response.statusCode, response.json().code, response.json().param]).toEqual([
        url,
        400,
        "invalid_request",
        "(body)",
      ]);
    }
  });

  it("sent as JSON must be JSON: an empty body with a JSON content type is malformed", async () => {
    const c = await withReductionScheduled();
    const response = await bare("POST", `/v1/subscriptions/${c.subscription}/scheduled_change/cancel`, {
      "content-type": "application/json",
    });
    expect([response.statusCode, response.json().code]).toEqual([400, "malformed_json"]);
  });
});
