import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { usageCounters } from "../../src/db/schema/index.ts";
import { DomainEventLog, POLL_PAGE_SIZE } from "../../src/services/events/log-reader.ts";
import { MeteringState } from "../../src/services/metering/metering-state.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

/**
 * After a write, the response waits for a poll of the domain-event log (the catch-up), so the next
 * check sees the write. The regular poll is an hour apart here: only catch-ups read the log, and
 * what a check answers is what the catch-up did.
 */
const api = useMeteringApi({ metering: { pollIntervalMs: 3_600_000 } });

const reports = (account: string) => api.request("POST", "/v1/check", { account, feature: "reports" });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("read-your-writes after a write", () => {
  it("a plan change is seen by the very next check", async () => {
    const { account, subscription } = await api.accountOn("free");
    expect((await reports(account)).json()).toMatchObject({ allowed: false });
    const res = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { plan: "pro" });
    expect(res.statusCode).toBe(200);
    expect((await reports(account)).json()).toMatchObject({ allowed: true });
  });

  it("a cancellation at once is seen by the very next usage event, which is not counted in the ended period", async () => {
    const { account, subscription } = await api.accountOn("starter");
    const call = async () =>
      expect((await api.events([usageEvent(account, "api.call")])).json()).toMatchObject({ accepted: 1 });
    api.clock.advance(60_000);
    await call(); // the cache now holds the live subscription
    expect((await api.request("POST", "/v1/check", { account, feature: "api_calls" })).json()).toMatchObject({
      allowed: true,
      used: 1,
    });
    api.clock.advance(60_000);
    const end = api.clock();
    const res = await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, {
      at_period_end: false,
    });
    expect(res.statusCode, res.body).toBe(200);
    api.clock.advance(1000);
    await call();
    const windows = await api.database.db
      .select({ start: usageCounters.periodStart, value: usageCounters.value })
      .from(usageCounters)
      .where(and(eq(usageCounters.accountId, account), eq(usageCounters.meter, "api_calls")))
      .orderBy(usageCounters.periodStart);
    expect(windows.map((w) => [w.start.toISOString(), Number(w.value)])).toEqual([
      [new Date(end.getTime() - 120_000).toISOString(), 1], // the period, begun at the subscription's creation
      [end.toISOString(), 1], // after the end: a window of its own, begun at the end
    ]);
    expect((await api.request("POST", "/v1/check", { account, feature: "api_calls" })).json()).toMatchObject({
      allowed: false,
      reason: "account_inactive",
      resetsAt: "2026-02-01T00:00:00.000Z", // the end of the window after the end
    });
  });

  it("a catch-up that fails after the write committed: the response reports the write, and the next poll catches up", async () => {
    const { account, subscription } = await api.accountOn("free");
    expect((await reports(account)).json()).toMatchObject({ allowed: false });
    let state: DomainEventLog | undefined;
    const poll = vi.spyOn(DomainEventLog.prototype, "poll").mockImplementationOnce(function (
      this: DomainEventLog,
    ) {
      state = this;
      return Promise.reject(new Error("Connection terminated unexpectedly"));
    });
    const res = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { plan: "pro" });
    expect(poll).toHaveBeenCalledTimes(1);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: subscription, plan: "pro" });
    expect((await api.request("GET", `/v1/subscriptions/${subscription}`)).json()).toMatchObject({
      plan: "pro",
    });
    // until the next poll this node answers from its cache as it stood, as another node would
    expect((await reports(account)).json()).toMatchObject({ allowed: false });
    await state?.poll();
    expect((await reports(account)).json()).toMatchObject({ allowed: true });
  });

  it("after a burst of more events than one poll reads, the write is still seen by the next check", async () => {
    const { account, subscription } = await api.accountOn("free");
    expect((await reports(account)).json()).toMatchObject({ allowed: false });
    // another node's traffic, committed since this node last read the log: pages of it lie ahead
    // of the write's own event
    const burst = 2 * POLL_PAGE_SIZE + 17;
    const tag = randomBytes(4).toString("hex");
    await api.database.db.execute(sql`
      insert into domain_events (id, account_id, type, data, created_at)
      select 'evt_burst_' || ${tag} || '_' || g, null, 'test.burst', '{}'::jsonb, now()
      from generate_series(1, ${burst}::int) g`);
    const res = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { plan: "pro" });
    expect(res.statusCode).toBe(200);
    expect((await reports(account)).json()).toMatchObject({ allowed: true });
  });

  it("a regular poll, too, reads on past a full page: an account's event after a burst is invalidated in one poll", async () => {
    const { account } = await api.accountOn("free");
    const log = new DomainEventLog(api.database.db, 3_600_000);
    const state = new MeteringState(api.database.db, api.clock);
    state.follow(log);
    await log.start();
    try {
      const tag = randomBytes(4).toString("hex");
      const insert = (n: number, accountId: string | null) =>
        api.database.db.execute(sql`
          insert into domain_events (id, account_id, type, data, created_at)
          select 'evt_page_' || ${tag} || '_' || ${accountId ?? "none"} || '_' || g, ${accountId}, 'account.updated', '{}'::jsonb, now()
          from generate_series(1, ${n}::int) g`);
      await insert(POLL_PAGE_SIZE, null);
      await insert(1, account);
      const seen: string[] = [];
      state.subscribe((change) => {
        if ("accounts" in change) seen.push(...change.accounts);
      });
      await log.poll();
      expect(seen).toEqual([account]);
    } finally {
      await log.close();
    }
  });
});
