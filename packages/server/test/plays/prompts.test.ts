import { randomBytes } from "node:crypto";
import { and, count, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, promptInstances, quotes } from "../../src/db/schema/index.ts";
import { parsePlaybookText } from "../../src/playbook-file.ts";
import { evaluateScheduledPlays } from "../../src/services/plays/evaluate.ts";
import { formatIssue } from "../../src/yaml-locate.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/** Prompts over HTTP: usage crosses a ratio, the plays subscriber makes a prompt, cadence shows it. */

const PLAYBOOK = `
version: 1
defaults:
  caps: { per_user_per_day: 1, per_account_per_week: 3 }
  snooze_days: 7
  min_hours_between_shows: 24
plays:
  - id: usage-80
    name: Usage 80%
    priority: 100
    trigger: { kind: usage_ratio, feature: api_calls, at: 0.8 }
    audience: { plans: [free, starter, pro] }
    offer: { change: { kind: next_plan } }
    message:
      title: "{{account.name}}: {{usage.percent}}% of your {{plan.name}} {{feature.name}}"
      body: "{{usage.used}} of {{usage.limit}} used. {{next_plan.name}} is {{next_plan.price}}/{{plan.interval}}, {{offer.due_today}} today."
      cta: "Upgrade to {{next_plan.name}}"
  - id: usage-95
    name: Usage 95%
    priority: 110
    trigger: { kind: usage_ratio, feature: api_calls, at: 0.95 }
    audience: { plans: [free, starter, pro] }
    offer: { change: { kind: next_plan } }
    escalates: usage-80
    message:
      title: "{{usage.left}} {{feature.name}} left"
      body: "{{offer.due_today}} today, then {{next_plan.price}}/{{plan.interval}}."
  - id: exports-2
    name: Two exports
    priority: 50
    trigger: { kind: event_count, event: export.created, count: 2 }
    offer: { change: { kind: none } }
    message: { title: "Exports are better on {{next_plan.name}}", body: "Hello {{account.name}}" }
  - id: welcome-month
    name: Account age
    trigger: { kind: account_age, from_days: 30, to_days: 60 }
    message: { title: "A month with us", body: "Thanks, {{account.name}}" }
  - id: reports-by-email
    name: Reports, by email only
    trigger: { kind: event_count, event: report.viewed, count: 1 }
    message: { title: "Reports for {{account.name}}", body: "Hello" }
    channels: [email]
`;

const api = usePlaysApi((catalog) => {
  const parsed = parsePlaybookText(PLAYBOOK, catalog, "test.playbook.yaml");
  if (!parsed.ok) throw new Error(parsed.issues.map(formatIssue).join("\n"));
  return parsed.playbook;
});

/** An account on a plan with an admin and a member (user ids admin-…, member-…). */
async function customer(plan: string, name = `Customer ${randomBytes(3).toString("hex")}`) {
  const external = `ext_${randomBytes(5).toString("hex")}`;
  const account = (await api.request("POST", "/v1/accounts", { external_id: external, name })).json()
    .id as string;
  const sub = await api.request("POST", "/v1/subscriptions", { account, plan });
  expect(sub.statusCode).toBe(201);
  const subscription = sub.json().id as string;
  const admin = `admin-${external}`;
  const member = `member-${external}`;
  for (const [user, role] of [
    [admin, "admin"],
    [member, "member"],
  ] as const) {
    const made = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: `${user}@example.com`,
      role,
      user_id: user,
      status: "active",
    });
    expect(made.statusCode).toBe(201);
  }
  return { account, subscription, admin, member };
}

async function useCalls(account: string, quantity: number) {
  const check = await api.request("POST", "/v1/check", {
    account,
    feature: "api_calls",
    quantity,
    record: true,
  });
  expect(check.json()).toMatchObject({ allowed: true, recorded: true });
  await api.log.drainDurable("plays");
}

const prompts = (account: string, user: string, placement = "banner") =>
  api.request("GET", `/v1/prompts?account=${account}&user=${user}&placement=${placement}`);
const answer = (account: string, id: string, type: string, extra: object = {}) =>
  api.request("POST", `/v1/prompts/${id}/events`, { account, type, ...extra });
const explain = (account: string, user: string, play: string) =>
  api.request("GET", `/v1/prompts/explain?account=${account}&user=${user}&play=${play}`);

describe("the usage ceiling, end to end", () => {
  it("crossing 80% makes a prompt with the real numbers; shown, then dismissed, it is hidden", async () => {
    api.clock.set("2026-01-16T12:00:00Z");
    const { account, admin, member } = await customer("starter", "Acme");
    await useCalls(account, 7_900);
    expect(await prompts(account, admin).then((r) => r.json().data)).toEqual([]);
    await useCalls(account, 150);

    const listed = await prompts(account, admin);
    expect(listed.statusCode).toBe(200);
    const [prompt] = listed.json().data;
    expect(prompt).toMatchObject({
      play: "usage-80",
      state: "eligible",
      action: "buy",
      title: "Acme: 80% of your Starter API calls",
      cta: "Upgrade to Pro",
    });
    // the quote is the offer priced now: its amount is the copy's "today"
    expect(prompt.quote).toMatchObject({ object: "quote", account });
    expect(prompt.quote.id).toMatch(/^qt_/);
    const due = prompt.quote.amount_due as number;
    expect(due).toBe(15_000);
    expect(prompt.body).toBe("8,050 of 10,000 used. Pro is $249/month, $150 today.");

    // the play action reaches the log (and so the webhooks)
    const triggered = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.type, "play.triggered"), eq(domainEvents.accountId, account)));
    expect(triggered).toHaveLength(1);
    expect(triggered[0]?.data).toMatchObject({ play: "usage-80" });

    // a member gets the "ask your admin" form
    const asked = (await prompts(account, member)).json().data[0];
    expect(asked).toMatchObject({ play: "usage-80", action: "ask_admin", cta: "Ask your admin" });

    const shown = await answer(account, prompt.id, "shown");
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ state: "shown", shown_at: "2026-01-16T12:00:00.000Z" });
    const dismissed = await answer(account, prompt.id, "dismissed");
    expect(dismissed.json()).toMatchObject({ state: "dismissed" });
    expect((await prompts(account, admin)).json().data).toEqual([]);
    const why = (await explain(account, admin, "usage-80")).json();
    expect(why).toMatchObject({ shown: false, decided_by: { stage: "cadence", code: "dismissed" } });

    // the same crossing again (a later batch) makes nothing new: once per window and limit
    await useCalls(account, 10);
    const rows = await api.database.db
      .select()
      .from(promptInstances)
      .where(and(eq(promptInstances.accountId, account), eq(promptInstances.play, "usage-80")));
    expect(rows).toHaveLength(2); // the admin's and the member's
  });

  it("95% escalates only if the 80% prompt was shown and did not convert", async () => {
    api.clock.set("2026-02-20T09:00:00Z");
    const { account, admin } = await customer("starter");
    // straight past 95%: both stages fire, but the 80% one was never shown
    await useCalls(account, 9_600);
    const first = (await prompts(account, admin)).json().data;
    expect(first.map((p: { play: string }) => p.play)).toEqual(["usage-80"]);
    expect((await explain(account, admin, "usage-95")).json()).toMatchObject({
      shown: false,
      decided_by: { stage: "cadence", code: "escalation_not_shown", details: { play: "usage-80" } },
    });
    await answer(account, first[0].id, "shown");
    // 25 hours later the per-user cap has room: the escalation shows, with what is left
    api.clock.advance(25 * 3_600_000);
    const next = (await prompts(account, admin)).json().data;
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({ play: "usage-95", title: "400 API calls left" });
  });

  it("caps hold across plays: one show per user per day", async () => {
    api.clock.set("2026-03-02T09:00:00Z");
    const { account, admin } = await customer("starter");
    for (const id of ["e1", "e2"])
      await api.request("POST", "/v1/events", { id, account, event: "export.created" });
    await api.log.drainDurable("plays");
    await useCalls(account, 8_000);
    const [top] = (await prompts(account, admin)).json().data;
    expect(top.play).toBe("usage-80"); // priority 100 over 50
    await answer(account, top.id, "shown");
    expect((await prompts(account, admin)).json().data).toEqual([]);
    expect((await explain(account, admin, "exports-2")).json()).toMatchObject({
      decided_by: { code: "cap_per_user_per_day", details: { limit: 1 } },
    });
    // dismissed, the 80% prompt leaves the slot to the export play once the day's cap frees
    await answer(account, top.id, "dismissed");
    api.clock.advance(24 * 3_600_000 + 1000);
    const [later] = (await prompts(account, admin)).json().data;
    expect(later).toMatchObject({ play: "exports-2", quote: null });
  });

  it("refuses an impossible move with 409 and transitionPrompt's code, and hides other accounts' prompts", async () => {
    api.clock.set("2026-04-02T09:00:00Z");
    const { account, admin } = await customer("starter");
    const other = await customer("starter");
    await useCalls(account, 8_000);
    const [prompt] = (await prompts(account, admin)).json().data;
    const refused = await answer(account, prompt.id, "clicked");
    expect([refused.statusCode, refused.json().code]).toEqual([409, "prompt_not_shown"]);
    expect((await answer(other.account, prompt.id, "shown")).statusCode).toBe(404);
    expect((await answer(account, "prm_unknown", "shown")).statusCode).toBe(404);
    await answer(account, prompt.id, "shown");
    const snoozed = await answer(account, prompt.id, "snoozed");
    expect(snoozed.json()).toMatchObject({ state: "snoozed", snoozed_until: "2026-04-09T09:00:00.000Z" });
    const early = await answer(account, prompt.id, "clicked");
    expect([early.statusCode, early.json().code]).toEqual([409, "prompt_snoozed"]);
    await answer(account, prompt.id, "never_again");
    const after = await answer(account, prompt.id, "shown");
    expect([after.statusCode, after.json().code]).toEqual([409, "prompt_never_again"]);
  });

  it("refuses a snooze that ends in the past as invalid input: 422 snooze_not_in_future", async () => {
    api.clock.set("2026-04-12T09:00:00Z");
    const { account, admin } = await customer("starter");
    await useCalls(account, 8_000);
    const [prompt] = (await prompts(account, admin)).json().data;
    await answer(account, prompt.id, "shown");
    const refused = await answer(account, prompt.id, "snoozed", { until: "2026-04-12T08:00:00Z" });
    expect([refused.statusCode, refused.json().code]).toEqual([422, "snooze_not_in_future"]);
    const [row] = await api.database.db
      .select()
      .from(promptInstances)
      .where(eq(promptInstances.id, prompt.id));
    expect(row).toMatchObject({ state: "shown", snoozedUntil: null });
  });

  it("escapes an account named with <script> in the copy", async () => {
    api.clock.set("2026-05-02T09:00:00Z");
    const { account, admin } = await customer("starter", "<script>alert(1)</script>");
    await useCalls(account, 8_000);
    const [prompt] = (await prompts(account, admin)).json().data;
    expect(prompt.title).toBe("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;: 80% of your Starter API calls");
    expect(prompt.title).not.toContain("<script>");
  });
});

describe("channels", () => {
  it("shows in the app only the prompts of plays whose channels include in_app", async () => {
    api.clock.set("2026-08-03T09:00:00Z");
    const { account, admin } = await customer("starter");
    const at = api.clock();
    // prompts as evaluation makes them, for a play sent by email only and for an in-app one
    const prompt = (play: string) => ({
      id: `prm_${play}_${randomBytes(4).toString("hex")}`,
      accountId: account,
      play,
      userId: admin,
      cycle: "lifetime",
      placement: "banner",
      action: "buy",
      state: "eligible",
      eligibleAt: at,
      stateAt: at,
      expiresAt: new Date(at.getTime() + 14 * 86_400_000),
    });
    await api.database.db.insert(promptInstances).values(prompt("reports-by-email"));
    expect((await prompts(account, admin)).json().data).toEqual([]);
    await api.database.db.insert(promptInstances).values(prompt("exports-2"));
    const shown = (await prompts(account, admin)).json().data;
    expect(shown.map((p: { play: string }) => p.play)).toEqual(["exports-2"]);
  });
});

describe("a repeated GET", () => {
  it("writes nothing when nothing changed; keeps the quote while it is valid; the row names the quote shown", async () => {
    api.clock.set("2026-09-08T09:00:00Z");
    const { account, subscription, admin } = await customer("starter");
    await useCalls(account, 8_000);
    // the row's version (xmin moves with every update, even one writing the same values)
    const row = async (id: string) => {
      const result = (await api.database.db.execute(
        sql`select xmin::text as version, quote_id from prompt_instances where id = ${id}`,
      )) as unknown as { rows: { version: string; quote_id: string | null }[] };
      return result.rows[0];
    };
    const quoteCount = async () =>
      (await api.database.db.select({ n: count() }).from(quotes).where(eq(quotes.accountId, account)))[0]
        ?.n ?? 0;
    const get = async () => (await prompts(account, admin)).json().data[0];

    const first = await get();
    expect(first.quote.id).toMatch(/^qt_/);
    const stored = await row(first.id);
    expect(stored?.quote_id).toBe(first.quote.id);
    const quotesMade = await quoteCount();

    expect(await get()).toEqual(first);
    expect(await row(first.id)).toEqual(stored);
    expect(await quoteCount()).toBe(quotesMade);

    // minutes later the quote still holds: the same answer, nothing written
    api.clock.advance(5 * 60_000);
    const later = await get();
    expect(later.quote.id).toBe(first.quote.id);
    expect(later.body).toBe(first.body);
    expect(await row(first.id)).toEqual(stored);

    // usage moved: the copy changes and is stored; the quote, whose price did not move, stays
    await useCalls(account, 100);
    const moved = await get();
    expect(moved.body).toMatch(/^8,100 of 10,000 used\./);
    expect(moved.quote.id).toBe(first.quote.id);
    const movedRow = await row(first.id);
    expect(movedRow?.version).not.toBe(stored?.version);
    expect(movedRow?.quote_id).toBe(first.quote.id);
    expect(await quoteCount()).toBe(quotesMade);

    // the subscription changed (a third seat): the quote no longer holds; a new one, and the row names it
    const patched = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { seats: 3 });
    expect(patched.statusCode).toBe(200);
    const repriced = await get();
    expect(repriced.quote.id).not.toBe(first.quote.id);
    expect((await row(first.id))?.quote_id).toBe(repriced.quote.id);
    expect(await quoteCount()).toBe(quotesMade + 1);
    expect(await get()).toEqual(repriced);

    // the quote expired (15 minutes): a new one
    api.clock.advance(15 * 60_000);
    const renewed = await get();
    expect(renewed.quote.id).not.toBe(repriced.quote.id);
    expect(renewed.quote.status).toBe("open");
    expect((await row(first.id))?.quote_id).toBe(renewed.quote.id);
  });
});

describe("scheduled plays", () => {
  it("fires a time-based play inside its window, once", async () => {
    api.clock.set("2026-06-01T00:00:00Z");
    const { account, admin } = await customer("starter");
    const made = () =>
      api.database.db
        .select()
        .from(promptInstances)
        .where(and(eq(promptInstances.accountId, account), eq(promptInstances.play, "welcome-month")));
    await evaluateScheduledPlays(api.database.db, api.playbook, api.steps, new Date("2026-06-20T00:00:00Z"));
    expect(await made()).toEqual([]); // day 19: before the window
    const at = new Date("2026-07-05T00:00:00Z");
    expect(await evaluateScheduledPlays(api.database.db, api.playbook, api.steps, at)).toBe(2);
    expect(await evaluateScheduledPlays(api.database.db, api.playbook, api.steps, at)).toBe(0);
    expect((await made()).map((r) => r.userId).sort()).toEqual([admin, `member-${admin.slice(6)}`].sort());
    api.clock.set(at.toISOString());
    const [prompt] = (await prompts(account, admin)).json().data;
    expect(prompt).toMatchObject({ play: "welcome-month", title: "A month with us" });
  });
});
