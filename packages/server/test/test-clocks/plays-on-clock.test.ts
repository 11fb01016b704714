import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { promptInstances } from "../../src/db/schema/index.ts";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { readPlaybookFile } from "../../src/playbook-file.ts";
import { runDueSteps } from "../../src/services/plays/act.ts";
import { evaluateScheduledPlays } from "../../src/services/plays/evaluate.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/**
 * The plays' time-based schedule on a test clock: seed 004's month-3 annual nudge of a monthly
 * Starter customer begun Jan 31 fires when the clock passes Apr 30 (its renewal too), the
 * account-age cross-sell at the first daily stop past 30 days, and the
 * real-time scheduler, however late it runs, never evaluates an account on a clock.
 */
const api = usePlaysApi(async (catalog) => {
  const parsed = await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog);
  if (!parsed.ok) throw new Error("the demo playbook is invalid");
  return parsed.playbook;
}, "2026-01-31T10:00:00Z");

async function advance(clock: string, to: string) {
  const started = await api.request("POST", `/v1/test_clocks/${clock}/advance`, { to });
  expect(started.statusCode, started.body).toBe(200);
  for (let waited = 0; waited < 240_000; waited += 50) {
    const view = (await api.request("GET", `/v1/test_clocks/${clock}`)).json();
    if (view.status === "ready") return view;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the clock did not finish advancing");
}

const promptsOf = (account: string) =>
  api.database.db.select().from(promptInstances).where(eq(promptInstances.accountId, account));

describe("time-based plays on a test clock", () => {
  it("the month-3 nudge fires as the clock passes Apr 30, never from the real-time schedule", async () => {
    const clock = (
      await api.request("POST", "/v1/test_clocks", { frozen_time: "2026-01-31T10:00:00Z" })
    ).json().id as string;
    const account = (
      await api.request("POST", "/v1/accounts", {
        external_id: "clocked-nudges",
        name: "Acme",
        test_clock: clock,
      })
    ).json().id as string;
    expect((await api.request("POST", "/v1/subscriptions", { account, plan: "starter" })).statusCode).toBe(
      201,
    );
    const admin = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "admin@acme.test",
      role: "admin",
      user_id: "u-admin",
      status: "active",
    });
    expect(admin.statusCode, admin.body).toBe(201);
    const card = await api.request("POST", `/v1/accounts/${account}/payment_methods`, {
      token: "sandbox_visa",
    });
    expect(card.statusCode, card.body).toBe(201);

    // the real-time scheduler, even at month 3 and later, leaves the clock's account alone
    for (const at of ["2026-04-30T10:00:00Z", "2026-06-01T00:00:00Z"])
      expect(await evaluateScheduledPlays(api.database.db, api.playbook, api.steps, new Date(at))).toBe(0);
    expect(await runDueSteps(api.stepRunner, new Date("2027-01-01T00:00:00Z"))).toEqual([]);
    expect(await promptsOf(account)).toEqual([]);

    await advance(clock, "2026-04-29T23:00:00Z");
    // by then only the 30-to-90-day cross-sell fired: at the first daily stop past 30 days of age
    const fired = async () =>
      (await promptsOf(account)).map((p) => [p.play, p.userId, p.eligibleAt.toISOString()]).sort();
    expect(await fired()).toEqual([["cross-sell-30-90", "u-admin", "2026-03-03T00:00:00.000Z"]]);
    await advance(clock, "2026-05-01T00:00:00Z");
    // month 3 is the renewal of Apr 30 (Jan 31 + 3 months, month-end clamped): a stop of its own
    expect(await fired()).toEqual([
      ["annual-month-3", "u-admin", "2026-04-30T10:00:00.000Z"],
      ["cross-sell-30-90", "u-admin", "2026-03-03T00:00:00.000Z"],
      ["seat-check-in", "u-admin", "2026-04-30T10:00:00.000Z"], // subscription month 3 as well
    ]);
    // its renewals ran on the clock too: Feb 28, Mar 31 and Apr 30 (month-end clamped)
    const invoices = (await api.request("GET", `/v1/invoices?account=${account}`)).json().data;
    expect(
      invoices.map((i: { period_start: string; amount_due: number; status: string }) => [
        i.period_start,
        i.amount_due,
        i.status,
      ]),
    ).toEqual([
      ["2026-04-30T10:00:00.000Z", 9900, "paid"],
      ["2026-03-31T10:00:00.000Z", 9900, "paid"],
      ["2026-02-28T10:00:00.000Z", 9900, "paid"],
    ]);
  });
});
