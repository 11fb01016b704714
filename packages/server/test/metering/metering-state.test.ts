import { CheckInput } from "@uptier/core";
import { describe, expect, it } from "vitest";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import {
  checkAndRecord,
  checkFromCache,
  resolveAccount,
  setGauge,
} from "../../src/services/metering/entitlements.ts";
import { MeteringState } from "../../src/services/metering/metering-state.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

/**
 * A transaction holds a database connection; waiting inside it for another one (the cache reading
 * through the database beside the transaction) hangs for good once every connection is held by such
 * a transaction: on PostgreSQL with a pool of one it is the first such wait, on PGlite (one
 * connection) it always is. With a pool of one, a hang here is certain, not a matter of timing —
 * except the HTTP test on PGlite, where the order of promise callbacks happened to avoid it.
 */
const api = useMeteringApi({ poolSize: 1 });

/** The promise's value, or a failure after `ms` (a hang would never settle). */
function within<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`no answer in ${ms} ms: a transaction waits on the pool`)),
        ms,
      ).unref(),
    ),
  ]);
}

/** A cache whose entry for the account was warmed, then made stale (as the outbox poll or another request's commit does). */
async function staleState(account: string) {
  const state = new MeteringState(api.database.db, api.clock);
  await state.entitlements(await resolveAccount(state, api.database.db, account));
  state.invalidate([account], "all");
  return state;
}

describe("the entitlement cache inside a transaction (pool of one)", () => {
  it("record: true on a stale entry reads through the transaction and records", async () => {
    const { account } = await api.accountOn("free");
    await api.events([usageEvent(account, "export.created"), usageEvent(account, "export.created")]);
    const state = await staleState(account);
    const input = CheckInput.parse({ account, feature: "exports", record: true });
    const outcome = await within(
      api.database.db.transaction((tx) => checkAndRecord(tx, state, input, api.clock())),
    );
    expect(outcome.result).toMatchObject({ allowed: true, used: 3, limit: 10, recorded: true });
    expect(outcome.touched).toBe(account);
    // what the transaction read was not cached (it could have rolled back)
    expect(state.cachedEntitlements({ id: account, externalId: "" }, api.clock())).toBeUndefined();
  });

  it("a denied check in a transaction (an Idempotency-Key) on a stale entry records the denial", async () => {
    const { account } = await api.accountOn("free");
    const state = await staleState(account);
    const input = CheckInput.parse({ account, feature: "sso" });
    const result = await within(
      api.database.db.transaction(async (tx) => checkFromCache(state, input, api.clock(), tx)),
    );
    expect(result).toMatchObject({ allowed: false, reason: "feature_not_in_plan" });
  });

  it("a gauge set in a transaction on a stale entry answers the new value", async () => {
    const { account } = await api.accountOn("free");
    const state = await staleState(account);
    const result = await within(
      api.database.db.transaction((tx) => setGauge(tx, state, account, "projects", 4, api.clock())),
    );
    expect(result).toMatchObject({ feature: "projects", used: 4, limit: 5 });
  });

  it("30 concurrent record: true checks over one connection all answer, never past the hard limit", async () => {
    const { account } = await api.accountOn("free");
    await api.events(Array.from({ length: 5 }, () => usageEvent(account, "export.created")));
    const results = await within(
      Promise.all(
        Array.from({ length: 30 }, () =>
          api.request("POST", "/v1/check", { account, feature: "exports", record: true }),
        ),
      ),
    );
    expect(results.map((r) => r.statusCode)).toEqual(results.map(() => 200));
    expect(results.filter((r) => r.json().allowed)).toHaveLength(5);
    const entitlements = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(entitlements.features.exports.used).toBe(10);
  });
});

describe("catchUp (read-your-writes after a write)", () => {
  it("callers arriving during a poll share the next one, started after it; nobody is answered by the poll already running", async () => {
    const state = new DomainEventLog(api.database.db);
    const polls: { resolve: () => void; reject: (error: Error) => void }[] = [];
    state.poll = () => new Promise<void>((resolve, reject) => polls.push({ resolve, reject }));
    const first = state.catchUp();
    expect(polls).toHaveLength(1);
    let answered = 0;
    const waiters = Array.from({ length: 50 }, () => state.catchUp().then(() => answered++));
    expect(polls).toHaveLength(1);
    // the running poll may have read the log before their writes committed: it answers none of them
    // (it fails here, which is not theirs to report)
    polls[0]?.reject(new Error("poll failed"));
    await expect(first).rejects.toThrow("poll failed");
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(0);
    expect(polls).toHaveLength(2);
    polls[1]?.resolve();
    await Promise.all(waiters);
    expect(answered).toBe(50);
    expect(polls).toHaveLength(2);
    // with no poll running, a caller starts its own at once
    const late = state.catchUp();
    expect(polls).toHaveLength(3);
    polls[2]?.resolve();
    await late;
  });
});
