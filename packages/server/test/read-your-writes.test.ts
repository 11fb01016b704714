import { afterEach, describe, expect, it, vi } from "vitest";
import { MeteringState } from "../src/services/metering-state.ts";
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
});
