import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { usageCounters, usageEvents } from "../../src/db/schema/index.ts";
import { TEST_ENGINE } from "../support/harness.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

// On PostgreSQL the requests run on several pooled connections at once, so duplicate copies truly race.
const api = useMeteringApi({ poolSize: 8, listen: true });

async function post(body: unknown) {
  const address = api.app.server.address() as { port: number };
  const response = await fetch(`http://127.0.0.1:${address.port}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${api.secret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    json: (await response.json()) as { accepted: number; duplicates: number },
  };
}

describe(`exactly-once ingestion under concurrent duplicate batches (${TEST_ENGINE})`, () => {
  it("counts each event once when the same batches arrive at the same moment on many connections", async () => {
    const accounts = await Promise.all([
      api.accountOn("starter"),
      api.accountOn("starter"),
      api.accountOn("pro"),
    ]);
    const events = Array.from({ length: 600 }, (_, i) =>
      usageEvent((accounts[i % 3] as { account: string }).account, i % 2 ? "api.call" : "user.active", {
        properties: { user_id: `u${i % 17}` },
      }),
    );
    const batches = Array.from({ length: 6 }, (_, b) => events.slice(b * 100, b * 100 + 100));
    // every batch sent 4 times, interleaved, plus overlapping batches mixing two batches' events
    const overlapping = batches.map((b, i) => [
      ...b.slice(50),
      ...(batches[(i + 1) % 6] as typeof b).slice(0, 50),
    ]);
    const sends = [...batches, ...batches, ...overlapping, ...batches, ...overlapping, ...batches];
    const results = await Promise.all(sends.map((b) => post({ events: b })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const accepted = results.reduce((n, r) => n + r.json.accepted, 0);
    const duplicates = results.reduce((n, r) => n + r.json.duplicates, 0);
    expect(accepted).toBe(600);
    expect(duplicates).toBe(sends.length * 100 - 600);

    const [stored] = await api.database.db
      .select({ n: sql<number>`count(*)`.mapWith(Number) })
      .from(usageEvents);
    expect(stored?.n).toBe(600);
    for (const [i, { account }] of accounts.entries()) {
      const mine = events.filter((_, k) => k % 3 === i);
      const calls = mine.filter((e) => e.event === "api.call").length;
      const users = new Set(
        mine
          .filter((e) => e.event === "user.active")
          .map((e) => (e as unknown as { properties: { user_id: string } }).properties.user_id),
      ).size;
      const total = async (meter: string) =>
        (
          await api.database.db
            .select({ total: sql<number>`sum(value)`.mapWith(Number) })
            .from(usageCounters)
            .where(and(eq(usageCounters.accountId, account), eq(usageCounters.meter, meter)))
        )[0]?.total;
      expect(await total("api_calls")).toBe(calls);
      expect(await total("active_users")).toBe(users);
      const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
      expect(ent.features.api_calls.used).toBe(calls);
      expect(ent.features.active_users.used).toBe(users);
    }
  });
});
