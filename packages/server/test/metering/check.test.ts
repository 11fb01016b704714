import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

const api = useMeteringApi();
const check = (body: Record<string, unknown>, headers?: Record<string, string>) =>
  api.request("POST", "/v1/check", body, headers);

async function use(account: string, event: string, n: number, properties: Record<string, unknown> = {}) {
  const events = Array.from({ length: n }, () => usageEvent(account, event, { properties }));
  for (let i = 0; i < events.length; i += 1000) await api.events(events.slice(i, i + 1000));
}

async function denials(account: string) {
  return (
    await api.database.db.select().from(domainEvents).where(eq(domainEvents.accountId, account))
  ).filter((e) => e.type === "entitlement.denied");
}

describe("POST /v1/check", () => {
  it("answers allowed / limit / used / remaining / ratio / resets-at within the limit", async () => {
    const { account, external } = await api.accountOn("free");
    await use(account, "api.call", 10);
    const response = await check({ account: external, feature: "api_calls" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      object: "check",
      account,
      feature: "api_calls",
      allowed: true,
      kind: "metered",
      limit: 1000,
      used: 10,
      remaining: 990,
      ratio: 0.01,
      resetsAt: "2026-02-16T12:00:00.000Z",
      reason: "within_limit",
      upgrade: null,
      recorded: false,
    });
  });

  it("hard: blocks at the limit, names the cheapest upgrade, and records the denial as a signal", async () => {
    const { account } = await api.accountOn("free");
    await use(account, "export.created", 10);
    const response = (await check({ account, feature: "exports" })).json();
    expect(response).toMatchObject({
      allowed: false,
      reason: "limit_reached",
      limit: 10,
      used: 10,
      remaining: 0,
      upgrade: {
        type: "plan",
        key: "starter",
        price: { amount: 9900, currency: "usd", interval: "month" },
        monthly_delta: { amount: 9900, currency: "usd" },
      },
    });
    const signals = await denials(account);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.data).toMatchObject({ feature: "exports", reason: "limit_reached" });
  });

  it("soft: allows a grace beyond the limit, then blocks", async () => {
    const { account } = await api.accountOn("free");
    await use(account, "api.call", 1000);
    expect((await check({ account, feature: "api_calls" })).json()).toMatchObject({
      allowed: true,
      reason: "soft_limit_grace",
      upgrade: { key: "starter" },
    });
    await use(account, "api.call", 100);
    expect((await check({ account, feature: "api_calls" })).json()).toMatchObject({
      allowed: false,
      reason: "limit_reached",
    });
  });

  it("billed: allows beyond the limit (overage priced by billing)", async () => {
    const { account } = await api.accountOn("free");
    await use(account, "file.stored", 1, { bytes: 5000 });
    expect((await check({ account, feature: "storage" })).json()).toMatchObject({
      allowed: true,
      reason: "overage_billed",
      used: 5000,
      limit: 1000,
    });
  });

  it("names no upgrade while the subscription is canceled at period end (it is quoted no change), and again once resumed", async () => {
    const { account, subscription } = await api.accountOn("starter");
    const sso = { type: "add_on", key: "sso", monthly_delta: { amount: 4900 } };
    expect((await check({ account, feature: "sso" })).json()).toMatchObject({ upgrade: sso });
    expect((await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, {})).statusCode).toBe(200);
    expect((await check({ account, feature: "sso" })).json()).toMatchObject({
      allowed: false,
      reason: "feature_not_in_plan",
      upgrade: null,
    });
    const resumed = await api.request("PATCH", `/v1/subscriptions/${subscription}`, {
      cancel_at_period_end: false,
    });
    expect(resumed.statusCode).toBe(200);
    expect((await check({ account, feature: "sso" })).json()).toMatchObject({ upgrade: sso });
  });

  it("a feature not in the plan is denied with the cheapest add-on or plan, and is a signal", async () => {
    const { account } = await api.accountOn("starter");
    expect((await check({ account, feature: "sso" })).json()).toMatchObject({
      allowed: false,
      reason: "feature_not_in_plan",
      upgrade: { type: "add_on", key: "sso", monthly_delta: { amount: 4900 } },
    });
    expect((await check({ account, feature: "reports" })).json()).toMatchObject({
      allowed: false,
      reason: "feature_not_in_plan",
      upgrade: { type: "plan", key: "pro", monthly_delta: { amount: 15000 } },
    });
    expect((await denials(account)).map((d) => (d.data as { feature: string }).feature).sort()).toEqual([
      "reports",
      "sso",
    ]);
  });

  it("limit features take a gauge; a capacity pack is the cheapest way past it", async () => {
    const { account } = await api.accountOn("starter");
    const put = await api.request("PUT", `/v1/accounts/${account}/usage/projects`, { value: 20 });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ used: 20, limit: 20 });
    expect((await check({ account, feature: "projects", quantity: 15 })).json()).toMatchObject({
      allowed: false,
      reason: "limit_reached",
      upgrade: { type: "add_on", key: "project_pack", quantity: 2, monthly_delta: { amount: 1000 } },
    });
    const metered = await api.request("PUT", `/v1/accounts/${account}/usage/api_calls`, { value: 3 });
    expect(metered.json().code).toBe("not_a_limit_feature");
  });

  it("seats come from members: the next seat is priced", async () => {
    const { account } = await api.accountOn("starter");
    for (let i = 0; i < 5; i++)
      await api.request("POST", `/v1/accounts/${account}/members`, { email: `m${i}@seat.test` });
    await new Promise((r) => setTimeout(r, 100)); // the outbox watcher sees the member events
    expect((await check({ account, feature: "seats" })).json()).toMatchObject({
      allowed: false,
      reason: "limit_reached",
      used: 5,
      limit: 5,
      upgrade: { type: "seats", quantity: 6, monthly_delta: { amount: 1500 } },
    });
  });

  it("unknown features, inactive accounts and unknown accounts are never allowed", async () => {
    const { account, subscription } = await api.accountOn("pro");
    expect((await check({ account, feature: "teleportation" })).json()).toMatchObject({
      allowed: false,
      reason: "unknown_feature",
      upgrade: null,
    });
    await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, { at_period_end: false });
    expect((await check({ account, feature: "api_calls" })).json()).toMatchObject({
      allowed: false,
      reason: "account_inactive",
    });
    const missing = await check({ account: "acct_01NOPE0000000000000000000", feature: "api_calls" });
    expect(missing.statusCode).toBe(404);
  });

  it("record: true adds the usage atomically when allowed, and never past a hard limit under concurrency", async () => {
    const { account } = await api.accountOn("free");
    await use(account, "export.created", 5);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => check({ account, feature: "exports", record: true })),
    );
    const allowed = results.filter((r) => r.json().allowed);
    expect(allowed).toHaveLength(5);
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.exports.used).toBe(10);
    const bad = await check({ account, feature: "sso", record: true });
    expect(bad.json()).toMatchObject({ allowed: false, reason: "feature_not_in_plan", recorded: false });
    const seats = await check({ account, feature: "seats", record: true });
    expect(seats.json().code).toBe("record_not_supported");
  });

  it("the cache follows a plan change (PATCH) through the outbox", async () => {
    const { account, subscription } = await api.accountOn("starter");
    expect((await check({ account, feature: "reports" })).json().allowed).toBe(false);
    await api.request("PATCH", `/v1/subscriptions/${subscription}`, { plan: "pro" });
    const deadline = Date.now() + 2000;
    let allowed = false;
    while (!allowed && Date.now() < deadline) {
      allowed = (await check({ account, feature: "reports" })).json().allowed;
      if (!allowed) await new Promise((r) => setTimeout(r, 20));
    }
    expect(allowed).toBe(true);
  });
});

describe("GET entitlements and usage", () => {
  it("returns every feature at once, by id or external id", async () => {
    const { account, external } = await api.accountOn("pro", { add_ons: [{ key: "sso" }] });
    const byId = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    const byExternal = (await api.request("GET", `/v1/entitlements?account=${external}`)).json();
    expect(byExternal).toEqual(byId);
    expect(byId).toMatchObject({ active: true, plan: "pro", status: "active", currency: "usd" });
    expect(byId.features.sso.granted).toBe(true);
    expect(byId.features.projects).toMatchObject({ unlimited: true, limit: null });
    expect(Object.keys(byId.features).sort()).toContain("peak_jobs");
  });

  it("usage: per feature used / limit / ratio / resets-at and daily history", async () => {
    const { account } = await api.accountOn("starter");
    api.clock.set("2026-01-18T10:00:00Z");
    await api.events([
      usageEvent(account, "api.call", { timestamp: "2026-01-16T13:00:00Z" }),
      usageEvent(account, "api.call", { timestamp: "2026-01-18T09:00:00Z" }),
      usageEvent(account, "api.call", { timestamp: "2026-01-18T09:30:00Z" }),
    ]);
    const usage = (await api.request("GET", `/v1/accounts/${account}/usage`)).json();
    expect(usage.period).toEqual({ start: "2026-01-16T12:00:00.000Z", end: "2026-02-16T12:00:00.000Z" });
    const calls = usage.features.find((f: { feature: string }) => f.feature === "api_calls");
    expect(calls).toMatchObject({
      used: 3,
      limit: 10_000,
      ratio: 0.0003,
      resets_at: "2026-02-16T12:00:00.000Z",
    });
    expect(calls.daily).toEqual([
      { date: "2026-01-16", value: 1 },
      { date: "2026-01-17", value: 0 },
      { date: "2026-01-18", value: 2 },
    ]);
    expect(usage.features.some((f: { feature: string }) => f.feature === "sso")).toBe(false);
    api.clock.set("2026-01-16T12:00:00Z");
  });
});
