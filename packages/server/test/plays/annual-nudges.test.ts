import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { readPlaybookFile } from "../../src/playbook-file.ts";
import { evaluateScheduledPlays } from "../../src/services/plays/evaluate.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/**
 * Seed 004's annual-plan nudges over HTTP on the demo catalog and playbook: a monthly Starter
 * subscription ($99 a month, $990 a year) begun Jan 31 reaches month 3 on Apr 30, month 6 on Jul 31
 * and the month-9 invoice on Oct 31 (month-end clamped). The time-based plays are asked as the
 * scheduler asks them, at the app's clock.
 */
const api = usePlaysApi(async (catalog) => {
  const parsed = await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog);
  if (!parsed.ok) throw new Error("the demo playbook is invalid");
  return parsed.playbook;
}, "2026-01-31T10:00:00Z");

/** Moves the app's clock and runs the scheduled evaluation at that instant. */
async function tick(iso: string) {
  api.clock.set(iso);
  return evaluateScheduledPlays(api.database.db, api.playbook, api.steps, api.clock());
}

const banner = async (account: string, user: string) => {
  const response = await api.request("GET", `/v1/prompts?account=${account}&user=${user}&placement=banner`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data as Record<string, unknown>[];
};
const shown = async (account: string, id: string) => {
  const response = await api.request("POST", `/v1/prompts/${id}/events`, { account, type: "shown" });
  expect([response.statusCode, response.json().state], response.body).toEqual([200, "shown"]);
};

/** Whitespace as folded YAML leaves it: one space. */
const oneLine = (text: unknown) => String(text).replace(/\s+/g, " ");

describe("the annual nudges at months 3, 6 and 9 (seed 004)", () => {
  it("say what was paid, what the year costs and what switching saves, in the seed's dollars", async () => {
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (
      await api.request("POST", "/v1/accounts", { external_id: external, name: "Acme" })
    ).json().id as string;
    const subscription = await api.request("POST", "/v1/subscriptions", { account, plan: "starter" });
    expect(subscription.statusCode, subscription.body).toBe(201);
    expect(subscription.json()).toMatchObject({ interval: "month" });
    for (const [user, role] of [
      ["u-admin", "admin"],
      ["u-member", "member"],
    ] as const) {
      const made = await api.request("POST", `/v1/accounts/${account}/members`, {
        email: `${user}@acme.test`,
        role,
        user_id: user,
        status: "active",
      });
      expect(made.statusCode, made.body).toBe(201);
    }

    // month 2: nothing to nudge yet
    await tick("2026-03-31T10:00:00Z");
    expect(await banner(account, "u-admin")).toEqual([]);

    // month 3 (Apr 30): "paid $297 … pay $990 for the full year — 2 months free. You save $99"
    expect(await tick("2026-04-30T10:00:00Z")).toBeGreaterThan(0);
    const [month3] = await banner(account, "u-admin");
    expect(month3).toMatchObject({
      play: "annual-month-3",
      action: "buy",
      title: "Switch to annual and save $99",
    });
    expect(oneLine(month3?.body)).toBe(
      "You've been with us for 3 months and paid $297. Switch to annual now and pay $990 for the full year — that's 2 months free. You save $99 on the spot.",
    );
    // accepting is one checkout of this quote: the year, less the credit for the month just billed
    expect(month3?.quote).toMatchObject({ amount_due: 89_100, recurring: { after: { amount: 99_000 } } });
    // the play is for admins: a member is not nudged
    expect(await banner(account, "u-member")).toEqual([]);
    await shown(account, month3?.id as string);

    // month 6 (Jul 31): the escalation, since month 3 was shown (92 days before) and did not convert
    await tick("2026-07-31T10:00:00Z");
    const [month6] = await banner(account, "u-admin");
    expect(month6).toMatchObject({
      play: "annual-month-6",
      title: "You can still save $33 by switching to annual",
    });
    expect(oneLine(month6?.body)).toBe(
      "You've passed the halfway point of what would have been an annual subscription. If you'd switched at month 3, you'd have saved $99 already. You can still save $33 by switching now — $990 for the year — and lock in your rate.",
    );
    await shown(account, month6?.id as string);

    // month 9: the last chance, a week before the month-9 invoice (Oct 31), with the bonus
    await tick("2026-10-23T10:00:00Z");
    expect(await banner(account, "u-admin")).toEqual([]); // 8 days before: not yet
    await tick("2026-10-24T10:00:00Z");
    const [month9] = await banner(account, "u-admin");
    expect(month9).toMatchObject({
      play: "annual-month-9",
      title: "Last chance on this annual offer",
      cta: "Switch to annual for $990",
    });
    expect(oneLine(month9?.body)).toBe(
      "Switch before your month-9 invoice and we'll add an extra seat free for 3 months at no cost: $990 for the year.",
    );
  });

  it("skips a nudge whose window has passed, and the escalations that wait on it", async () => {
    api.clock.set("2026-01-31T10:00:00Z");
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (
      await api.request("POST", "/v1/accounts", { external_id: external, name: "Late" })
    ).json().id as string;
    expect((await api.request("POST", "/v1/subscriptions", { account, plan: "starter" })).statusCode).toBe(
      201,
    );
    const admin = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "admin@late.test",
      role: "admin",
      user_id: "u-late",
      status: "active",
    });
    expect(admin.statusCode, admin.body).toBe(201);
    // the scheduler first wakes in month 4: month 3's window is over, so nothing is sent late
    await tick("2026-05-31T10:00:00Z");
    expect(await banner(account, "u-late")).toEqual([]);
    // month 6 fires, but its prompt waits on a month-3 nudge that was never shown
    await tick("2026-07-31T10:00:00Z");
    expect(await banner(account, "u-late")).toEqual([]);
    const why = await api.request(
      "GET",
      `/v1/prompts/explain?account=${account}&user=u-late&play=annual-month-6`,
    );
    expect(why.json()).toMatchObject({
      shown: false,
      decided_by: { stage: "cadence", code: "escalation_not_shown", details: { play: "annual-month-3" } },
    });
  });
});
