import { OpenFeature } from "@openfeature/server-sdk";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { domainEvents, usageEvents } from "../../server/src/db/schema/index.ts";
import { useMeteringApi } from "../../server/test/support/metering-harness.ts";
import { Uptier, type UptierError, UptierProvider } from "../src/index.ts";

const api = useMeteringApi({ listen: true });
// The SDK stamps events with the real time, so the server runs on it too.
beforeAll(() => api.clock.set(new Date().toISOString()));
setInterval(() => api.clock?.set(new Date().toISOString()), 50).unref();
const baseUrl = () => `http://127.0.0.1:${(api.app.server.address() as { port: number }).port}`;

/** A fetch that can be switched off, as if the server were unreachable (open streams are cut too). */
function switchableFetch() {
  let down = false;
  let calls = 0;
  const open = new Set<AbortController>();
  const wrapped = (async (input: string | URL | Request, init: RequestInit = {}) => {
    calls += 1;
    if (down) throw new TypeError("fetch failed (server unreachable)");
    const controller = new AbortController();
    init.signal?.addEventListener("abort", () => controller.abort());
    open.add(controller);
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      // streams stay registered until the body ends; requests are short-lived either way
      setTimeout(() => open.delete(controller), 60_000).unref();
    }
  }) as typeof fetch;
  return {
    fetch: wrapped,
    get calls() {
      return calls;
    },
    down() {
      down = true;
      for (const c of open) c.abort();
      open.clear();
    },
    up() {
      down = false;
    },
  };
}

const clients: Uptier[] = [];
function client(options: Partial<ConstructorParameters<typeof Uptier>[0]> = {}) {
  const c = new Uptier({
    apiKey: api.secret,
    baseUrl: baseUrl(),
    retryBaseMs: 20,
    retryMaxMs: 200,
    ...options,
  });
  clients.push(c);
  return c;
}
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
});

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<number> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

describe("track", () => {
  it("batches, flushes, and keeps ids across a retry so a lost response is counted once", async () => {
    const { account, external } = await api.accountOn("starter");
    let lose = 1;
    const errors: UptierError[] = [];
    const sdk = client({
      stream: false,
      flushAt: 50,
      onError: (e) => errors.push(e),
      fetch: (async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).endsWith("/v1/events") && lose-- > 0)
          throw new TypeError("connection reset after send");
        return response;
      }) as typeof fetch,
    });
    for (let i = 0; i < 120; i++) sdk.track({ account: external, event: "api.call" });
    sdk.track({ account, event: "file.stored", properties: { bytes: "lots" } });
    await sdk.flush();
    const stored = await api.database.db.select().from(usageEvents).where(eq(usageEvents.accountId, account));
    expect(stored).toHaveLength(120);
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.api_calls.used).toBe(120);
    expect(errors.map((e) => e.kind)).toEqual(["events_rejected"]);
  });
});

describe("check from the local cache", () => {
  it("answers from the cache without a request, with the server's decision rule", async () => {
    const { account } = await api.accountOn("starter");
    const net = switchableFetch();
    const sdk = client({ fetch: net.fetch });
    const first = await sdk.check(account, "api_calls");
    expect(first).toMatchObject({
      allowed: true,
      source: "cache",
      limit: 10_000,
      used: 0,
      reason: "within_limit",
    });
    const calls = net.calls;
    for (let i = 0; i < 1000; i++) await sdk.check(account, "api_calls");
    expect(net.calls).toBe(calls);
  });

  it("a denied check is confirmed by the server: it names the upgrade and records the signal", async () => {
    const { account } = await api.accountOn("starter");
    const sdk = client();
    const answer = await sdk.check(account, "sso");
    expect(answer).toMatchObject({
      allowed: false,
      source: "server",
      reason: "feature_not_in_plan",
      upgrade: { key: "sso", type: "add_on" },
    });
    const signals = await api.database.db
      .select()
      .from(domainEvents)
      .where(eq(domainEvents.accountId, account));
    expect(signals.filter((s) => s.type === "entitlement.denied")).toHaveLength(1);
  });

  it("is invalidated by the server within a second of a plan change (PATCH /v1/subscriptions)", async () => {
    const { account, subscription } = await api.accountOn("starter");
    const sdk = client();
    await until(() => sdk.connected);
    expect((await sdk.check(account, "reports")).allowed).toBe(false);
    const changed = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { plan: "pro" });
    expect(changed.statusCode).toBe(200);
    const elapsed = await until(async () => {
      const c = await sdk.check(account, "reports");
      return c.allowed && c.source === "cache";
    });
    expect(elapsed).toBeLessThan(1000);
    // and usage pushed by events moves the cached counters too
    await api.events([{ id: `push-${account}`, account, event: "api.call" }]);
    await until(async () => (await sdk.check(account, "api_calls")).used === 1);
  });
});

describe("with the server down and back", () => {
  it("answers from the cache marked stale, falls back by fail mode, queues events, and recovers", async () => {
    const { account } = await api.accountOn("starter");
    const { account: never } = await api.accountOn("starter");
    const net = switchableFetch();
    const closed = client({ fetch: net.fetch, staleAfterMs: 0, retryBaseMs: 50, maxRetries: 50 });
    const open = client({ fetch: net.fetch, staleAfterMs: 0, failMode: "open" });
    await until(() => closed.connected);
    expect(await closed.check(account, "api_calls")).toMatchObject({ allowed: true, stale: false });

    net.down();
    await until(() => !closed.connected);
    expect(await closed.check(account, "api_calls")).toMatchObject({
      allowed: true,
      source: "cache",
      stale: true,
    });
    expect(await closed.check(never, "api_calls")).toMatchObject({
      allowed: false,
      source: "fallback",
      reason: "server_unreachable",
      stale: true,
    });
    expect(await open.check(never, "api_calls")).toMatchObject({ allowed: true, source: "fallback" });
    closed.track({ account, event: "api.call", id: "while-down-1" });
    closed.track({ account, event: "api.call", id: "while-down-2" });
    const flushed = closed.flush();
    await new Promise((r) => setTimeout(r, 150));

    net.up();
    await flushed;
    await until(() => closed.connected, 8000);
    await until(async () => {
      const c = await closed.check(account, "api_calls");
      return !c.stale && c.used === 2;
    });
    const stored = await api.database.db.select().from(usageEvents).where(eq(usageEvents.accountId, account));
    expect(stored.map((e) => e.id).sort()).toEqual(["while-down-1", "while-down-2"]);
  });
});

describe("OpenFeature provider", () => {
  it("resolves features as flags for the account in the evaluation context", async () => {
    const { account, external } = await api.accountOn("starter", { add_ons: [{ key: "sso" }] });
    const sdk = client();
    await OpenFeature.setProviderAndWait(new UptierProvider(sdk));
    const of = OpenFeature.getClient();
    expect(await of.getBooleanValue("sso", false, { targetingKey: external })).toBe(true);
    expect(await of.getBooleanValue("reports", true, { account })).toBe(false);
    expect(await of.getNumberValue("projects", -1, { account })).toBe(20);
    expect(await of.getStringValue("reports", "", { account })).toBe("feature_not_in_plan");
    const details = await of.getBooleanDetails("teleport", false, { account });
    expect(details).toMatchObject({ value: false, errorCode: "FLAG_NOT_FOUND" });
    const missing = await of.getBooleanDetails("sso", false, {});
    expect(missing.errorCode).toBe("TARGETING_KEY_MISSING");
    const cached = await of.getBooleanDetails("sso", false, { account });
    expect(cached).toMatchObject({
      value: true,
      reason: "CACHED",
      flagMetadata: { reason: "within_limit", stale: false },
    });
    await OpenFeature.close();
  });
});

describe("track() moves the cached usage at once", () => {
  const entitlement = async (account: string, feature: string) =>
    (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json().features[feature].used;
  /** every tracked event is counted by a cached snapshot: nothing is held on top of them any more */
  const settled = (sdk: Uptier) => (sdk as unknown as { tracked: Map<string, unknown> }).tracked.size === 0;

  it("by the server's meter rules, without a request; the server's count then replaces it, never doubled", async () => {
    const { account, external } = await api.accountOn("starter");
    const net = switchableFetch();
    // a long flush interval: the events stay queued until flushed below
    const sdk = client({ fetch: net.fetch, flushIntervalMs: 60_000 });
    await until(() => sdk.connected);
    expect((await sdk.check(account, "api_calls")).used).toBe(0);
    const requests = net.calls;

    for (let i = 0; i < 5; i++) sdk.track({ account: external, event: "api.call" }); // by external id
    sdk.track({ account, event: "api.call", id: "twice" });
    sdk.track({ account, event: "api.call", id: "twice" }); // the same id is counted once
    // an hour ago: before this account's first period, so counted in the one before
    sdk.track({ account, event: "api.call", timestamp: new Date(Date.now() - 3_600_000) });
    sdk.track({ account, event: "file.stored", properties: { bytes: "1500" } });
    sdk.track({ account, event: "file.stored", properties: { bytes: 500 } });
    sdk.track({ account, event: "file.stored", properties: { bytes: "lots" } }); // rejected by the server
    sdk.track({ account, event: "jobs.sampled", properties: { running: 4 } });
    sdk.track({ account, event: "jobs.sampled", properties: { running: 2 } });
    for (const user_id of ["u1", "u1", "u2"])
      sdk.track({ account, event: "user.active", properties: { user_id } });

    const used = async () =>
      Object.fromEntries(
        await Promise.all(
          ["api_calls", "storage", "peak_jobs", "active_users"].map(async (f) => {
            const c = await sdk.check(account, f);
            expect(c.source).toBe("cache");
            return [f, c.used];
          }),
        ),
      );
    expect(await used()).toEqual({ api_calls: 6, storage: 2000, peak_jobs: 4, active_users: 2 });
    expect(net.calls).toBe(requests); // no round trip: nothing was sent, nothing asked

    // Someone else's usage reaches the server first: its snapshot (without our queued events) arrives
    // before our events are counted, and ours stay on top of it.
    await api.events([{ id: `other-${account}`, account, event: "api.call" }]);
    await until(async () => (await entitlement(account, "api_calls")) === 1);
    await until(async () => (await sdk.check(account, "api_calls")).used === 7);

    // Now the server counts ours: after its push the cache holds the server's values, not ours twice.
    await sdk.flush();
    const server = {
      api_calls: await entitlement(account, "api_calls"),
      storage: await entitlement(account, "storage"),
      peak_jobs: await entitlement(account, "peak_jobs"),
      active_users: await entitlement(account, "active_users"),
    };
    expect(server).toEqual({ api_calls: 7, storage: 2000, peak_jobs: 4, active_users: 2 });
    await until(async () => JSON.stringify(await used()) === JSON.stringify(server));
    await until(() => settled(sdk)); // pushes and refreshes are done: still not doubled
    expect(await used()).toEqual(server);
  });

  it("a snapshot taken while events were in flight reads high, then the server's count once they are acknowledged", async () => {
    const { account } = await api.accountOn("starter");
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const sdk = client({
      flushIntervalMs: 60_000,
      // the server's answer to the batch is held back: its push (and the refresh) come first
      fetch: (async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).endsWith("/v1/events")) await gate;
        return response;
      }) as typeof fetch,
    });
    await until(() => sdk.connected);
    expect((await sdk.check(account, "api_calls")).used).toBe(0);
    for (let i = 0; i < 3; i++) sdk.track({ account, event: "api.call" });
    const refreshed = new Promise((resolve) => sdk.onChange(resolve));
    const flushed = sdk.flush();
    await refreshed;
    await new Promise((r) => setTimeout(r, 300)); // the server's later pushes (its log poll) too
    // This snapshot counts the 3 already, but nothing says so yet: they stay on top (high, never low).
    expect((await sdk.check(account, "api_calls")).used).toBe(6);
    open();
    await flushed;
    // Acknowledged after that snapshot was requested: it is requested again, and holds the server's count.
    await until(async () => (await sdk.check(account, "api_calls")).used === 3);
    await until(() => settled(sdk));
    expect((await sdk.check(account, "api_calls")).used).toBe(3);
  });

  it("a limit crossed by tracked events is denied at once, and the server confirms it once it has them", async () => {
    const { account } = await api.accountOn("free"); // exports: 10, hard
    const sdk = client({ flushIntervalMs: 60_000 });
    expect(await sdk.check(account, "exports")).toMatchObject({ allowed: true, used: 0, source: "cache" });
    for (let i = 0; i < 10; i++) sdk.track({ account, event: "export.created" });
    // Without the bump the cache would answer "allowed, 0 used" here.
    expect(await sdk.check(account, "exports")).toMatchObject({
      allowed: false,
      reason: "limit_reached",
      used: 10,
      source: "server",
    });
    // asked only after the server had the queued events (else it would have allowed it)
    const stored = await api.database.db.select().from(usageEvents).where(eq(usageEvents.accountId, account));
    expect(stored).toHaveLength(10);
  });

  it("unique_count is counted conservatively: a value the server already has reads high until its count comes", async () => {
    const { account } = await api.accountOn("free"); // active_users: 3, hard
    const sdk = client({ flushIntervalMs: 60_000 });
    await until(() => sdk.connected);
    await sdk.check(account, "active_users");
    for (const user_id of ["u1", "u1", "u2"])
      sdk.track({ account, event: "user.active", properties: { user_id } });
    expect((await sdk.check(account, "active_users")).used).toBe(2);
    await sdk.flush();
    await until(async () => (await entitlement(account, "active_users")) === 2);
    await until(() => settled(sdk));

    // u1 again: the SDK cannot know the server has seen it, so it counts it (3 of 3: one more is
    // denied here); the server, sent the event first, answers with its exact count.
    sdk.track({ account, event: "user.active", properties: { user_id: "u1" } });
    expect((await sdk.entitlements(account))?.features.active_users?.used).toBe(3);
    expect(await sdk.check(account, "active_users")).toMatchObject({
      allowed: true,
      used: 2,
      source: "server",
    });
    await until(async () => (await sdk.entitlements(account))?.features.active_users?.used === 2);
  });
});
