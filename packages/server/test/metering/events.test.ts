import { aggregateEvents, MAX_BATCH_EVENTS, validateCatalog } from "@uptier/core";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, usageCounters, usageEvents } from "../../src/db/schema/index.ts";
import { METERING_CATALOG, usageEvent, useMeteringApi } from "../support/metering-harness.ts";

const api = useMeteringApi();

async function counter(account: string, meter: string, periodStart: string) {
  const rows = await api.database.db
    .select()
    .from(usageCounters)
    .where(
      and(
        eq(usageCounters.accountId, account),
        eq(usageCounters.meter, meter),
        eq(usageCounters.periodStart, new Date(periodStart)),
      ),
    );
  return rows.reduce((sum, row) => sum + Number(row.value), 0);
}

describe("POST /v1/events", () => {
  it("accepts one event or a batch, and counts a duplicate once, reporting it", async () => {
    const { account, external } = await api.accountOn("starter");
    const one = usageEvent(account, "api.call");
    const single = await api.events(one);
    expect(single.statusCode).toBe(200);
    expect(single.json()).toMatchObject({ accepted: 1, duplicates: 0, rejected: 0 });
    // by external id, with the same event again inside the batch and a copy of the first
    const a = usageEvent(external, "api.call");
    const batch = await api.events([a, a, one, usageEvent(account, "api.call")]);
    expect(batch.json()).toMatchObject({ accepted: 2, duplicates: 2, rejected: 0 });
    expect(batch.json().results.map((r: { status: string }) => r.status)).toEqual([
      "accepted",
      "duplicate",
      "duplicate",
      "accepted",
    ]);
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.api_calls).toMatchObject({ used: 3, limit: 10_000 });
    // a domain event names the accounts whose usage moved
    const recorded = await api.database.db
      .select()
      .from(domainEvents)
      .where(eq(domainEvents.type, "usage.recorded"));
    expect(recorded.some((e) => e.accountId === account)).toBe(true);
  });

  it("reports each bad event on its own and never loses the good ones", async () => {
    const { account } = await api.accountOn("starter");
    const now = api.clock();
    const good = usageEvent(account, "file.stored", { properties: { bytes: 10 } });
    const response = await api.events([
      good,
      { account, event: "api.call" },
      usageEvent(account, "api.call", { timestamp: new Date(now.getTime() - 8 * 86_400_000).toISOString() }),
      usageEvent(account, "api.call", { timestamp: new Date(now.getTime() + 86_400_000).toISOString() }),
      usageEvent(account, "file.stored", { properties: { bytes: "a lot" } }),
      usageEvent("acct_01UNKNOWN00000000000000000", "api.call"),
      usageEvent(account, "something.nobody.meters"),
      usageEvent(account, "api.call", { properties: { pad: "x".repeat(40_000) } }),
      usageEvent(account, "api.call", { timestamp: "not a time" }),
    ]);
    expect(response.statusCode).toBe(200);
    const codes = response.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status);
    expect(codes).toEqual([
      "accepted",
      "missing_id",
      "timestamp_too_old",
      "timestamp_in_future",
      "invalid_property_value",
      "unknown_account",
      "accepted", // an unknown event name is stored and counted by no meter
      "event_too_large",
      "invalid_event",
    ]);
    const stored = await api.database.db.select().from(usageEvents).where(eq(usageEvents.accountId, account));
    expect(stored.map((e) => e.event).sort()).toEqual(["file.stored", "something.nobody.meters"]);
  });

  it("rejects a batch over the limit, and a body over the size limit, with clear codes", async () => {
    const { account } = await api.accountOn("free");
    const tooMany = Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => usageEvent(account, "api.call"));
    const response = await api.events(tooMany);
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe("batch_too_large");
    const huge = await api.events(
      Array.from({ length: 40 }, () =>
        usageEvent(account, "api.call", { properties: { pad: "y".repeat(30_000) } }),
      ),
    );
    expect(huge.statusCode).toBe(413);
    expect(huge.json().code).toBe("payload_too_large");
  });

  it("counts late and out-of-order events in the period they belong to", async () => {
    // anchor 2026-01-16T12:00Z (the test clock): periods roll over on the 16th at noon
    const { account } = await api.accountOn("starter", { billing_cycle_anchor: "2025-12-16T12:00:00Z" });
    api.clock.set("2026-01-18T00:00:00Z");
    const before = usageEvent(account, "api.call", { timestamp: "2026-01-16T11:59:59Z" });
    const after = usageEvent(account, "api.call", { timestamp: "2026-01-16T12:00:00Z" });
    const later = usageEvent(account, "api.call", { timestamp: "2026-01-17T09:00:00Z" });
    const res = await api.events([later, after, before]);
    expect(res.json().accepted).toBe(3);
    expect(await counter(account, "api_calls", "2025-12-16T12:00:00Z")).toBe(1);
    expect(await counter(account, "api_calls", "2026-01-16T12:00:00Z")).toBe(2);
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.api_calls).toMatchObject({
      used: 2,
      period_start: "2026-01-16T12:00:00.000Z",
      resets_at: "2026-02-16T12:00:00.000Z",
    });
    api.clock.set("2026-01-16T12:00:00Z");
  });

  it("rolls the period over at the anchor: usage starts again from zero", async () => {
    const { account } = await api.accountOn("starter");
    await api.events([usageEvent(account, "api.call"), usageEvent(account, "api.call")]);
    expect(
      (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json().features.api_calls.used,
    ).toBe(2);
    api.clock.set("2026-02-16T11:59:59Z");
    expect(
      (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json().features.api_calls.used,
    ).toBe(2);
    api.clock.set("2026-02-16T12:00:00Z");
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.api_calls).toMatchObject({ used: 0, resets_at: "2026-03-16T12:00:00.000Z" });
    api.clock.set("2026-01-16T12:00:00Z");
  });

  it("aggregates count, sum, max and unique_count, each reset per its rule, equal to core's reference", async () => {
    const { account } = await api.accountOn("starter");
    const sent = [
      usageEvent(account, "file.stored", { properties: { bytes: 100 } }),
      usageEvent(account, "file.stored", { properties: { bytes: "250.5" } }),
      usageEvent(account, "jobs.sampled", { properties: { running: 4 } }),
      usageEvent(account, "jobs.sampled", { properties: { running: 7 } }),
      usageEvent(account, "jobs.sampled", { properties: { running: 2 } }),
      usageEvent(account, "user.active", { properties: { user_id: "u1" } }),
      usageEvent(account, "user.active", { properties: { user_id: "u2" } }),
      usageEvent(account, "user.active", { properties: { user_id: "u1" } }),
      usageEvent(account, "export.created"),
      usageEvent(account, "document.created"),
    ];
    await api.events(sent.slice(0, 5));
    await api.events(sent.slice(5));
    await api.events(sent); // all again: all duplicates
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    const catalog = validateCatalog(METERING_CATALOG);
    if (!catalog.ok) throw new Error("catalog");
    const reference = (meter: string) =>
      aggregateEvents(meter, catalog.catalog.meters[meter] as never, sent as never);
    expect(ent.features.storage.used).toBe(reference("storage_bytes"));
    expect(ent.features.storage.used).toBe(350.5);
    expect(ent.features.peak_jobs.used).toBe(7);
    expect(ent.features.active_users.used).toBe(2);
    expect(ent.features.exports.used).toBe(1);
    expect(ent.features.documents.used).toBe(1);
    // resets: exports by calendar month, documents never
    expect(ent.features.exports.resets_at).toBe("2026-02-01T00:00:00.000Z");
    expect(ent.features.documents).toMatchObject({
      resets_at: null,
      period_start: "1970-01-01T00:00:00.000Z",
    });
    api.clock.set("2026-02-01T00:00:00Z");
    const feb = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(feb.features.exports.used).toBe(0);
    expect(feb.features.api_calls.period_start).toBe("2026-01-16T12:00:00.000Z");
    api.clock.set("2026-03-01T00:00:00Z");
    const mar = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(mar.features.storage.used).toBe(0);
    expect(mar.features.active_users.used).toBe(0);
    expect(mar.features.documents.used).toBe(1);
    api.clock.set("2026-01-16T12:00:00Z");
  });

  it("honours Idempotency-Key on a batch: the replay returns the first response", async () => {
    const { account } = await api.accountOn("starter");
    const batch = [usageEvent(account, "api.call")];
    const first = await api.events(batch, { "idempotency-key": `k-${account}` });
    const again = await api.events(batch, { "idempotency-key": `k-${account}` });
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
  });
});
