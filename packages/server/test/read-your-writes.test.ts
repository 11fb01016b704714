import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MeteringState, POLL_PAGE_SIZE } from "../src/services/metering-state.ts";
import { useMeteringApi } from "./metering-harness.ts";

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

  it("a catch-up that fails after the write committed: the response reports the write, and the next poll catches up", async () => {
    const { account, subscription } = await api.accountOn("free");
    expect((await reports(account)).json()).toMatchObject({ allowed: false });
    let state: MeteringState | undefined;
    const poll = vi.spyOn(MeteringState.prototype, "poll").mockImplementationOnce(function (
      this: MeteringState,
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
    const state = new MeteringState(api.database.db, api.clock, { pollIntervalMs: 3_600_000 });
    await state.start();
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
      await state.poll();
      expect(seen).toEqual([account]);
    } finally {
      await state.close();
    }
  });
});
