import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { playActions, promptInstances } from "../../src/db/schema/index.ts";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { PLAY_STEPS_QUEUE } from "../../src/jobs/play-jobs.ts";
import { readPlaybookFile } from "../../src/playbook-file.ts";
import { type Mailer, smtpMailer } from "../../src/services/email/mailer.ts";
import { runDueSteps } from "../../src/services/plays/act.ts";
import { deliverDueWebhooks } from "../../src/services/webhooks/deliver.ts";
import { usePlaysApi } from "../support/plays-harness.ts";
import { rawHeader, SmtpCatcher } from "../support/smtp-catcher.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

/**
 * Seed 000's seat-limit moment over HTTP on the demo catalog and playbook: an invite refused for
 * lack of seats → within minutes the admin gets the email and the vendor a signed webhook, and the
 * admin's prompt names the seat's price and what is due today → one checkout of the prompt's quote
 * (attributed to it) → the invite goes through, and the 24-hour follow-up is canceled.
 */
const api = usePlaysApi(async (catalog) => {
  const parsed = await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog);
  if (!parsed.ok) throw new Error("the demo playbook is invalid");
  return parsed.playbook;
}, "2026-03-10T15:00:00Z");

let smtp: SmtpCatcher;
let mailer: Mailer;
let receiver: WebhookReceiver;
beforeAll(async () => {
  smtp = await SmtpCatcher.start();
  receiver = await WebhookReceiver.start();
  mailer = smtpMailer(
    api.database.db,
    { smtpUrl: smtp.url, from: "Acme <growth@acme.test>", publicUrl: "https://uptier.acme.test" },
    { clock: api.clock },
  );
});
afterAll(async () => {
  await mailer.stop();
  await smtp.close();
  await receiver.close();
});

/** pg-boss's record of a job of the steps' queue. */
async function job(id: string | null) {
  const { rows } = await api.database.executeSql(
    "select state, start_after from pgboss.job where name = $1 and id = $2",
    [PLAY_STEPS_QUEUE, id],
  );
  return rows[0] as { state: string; start_after: Date } | undefined;
}

describe("the seat-limit moment, end to end (seed 000)", () => {
  it("refused invite → email, webhook and prompt with the real prices → checkout → invite succeeds, follow-up canceled", async () => {
    const hook = await api.request("POST", "/v1/webhook_endpoints", {
      url: receiver.url(),
      event_types: ["play.webhook"],
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (
      await api.request("POST", "/v1/accounts", { external_id: external, name: "Acme" })
    ).json().id as string;
    const subscription = await api.request("POST", "/v1/subscriptions", { account, plan: "starter" });
    expect(subscription.statusCode, subscription.body).toBe(201);
    const card = await api.request("POST", `/v1/accounts/${account}/payment_methods`, {
      token: "sandbox_visa",
    });
    expect(card.statusCode, card.body).toBe(201);
    const admin = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "admin@acme.test",
      role: "admin",
      user_id: "u-admin",
      status: "active",
    });
    expect(admin.statusCode, admin.body).toBe(201);
    const adminId = admin.json().id as string;
    api.clock.set("2026-03-25T15:00:00Z"); // 16 of the period's 31 days are left

    // the admin invites teammates until the seats run out: the last invite is the moment
    let refused: Awaited<ReturnType<typeof api.request>> | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      const invite = await api.request("POST", `/v1/accounts/${account}/members`, {
        email: `mate${i}@acme.test`,
        invited_by: "u-admin",
      });
      if (invite.statusCode !== 201) refused = invite;
    }
    expect([refused?.statusCode, refused?.json().code]).toEqual([409, "seat_limit_reached"]);
    await api.log.drainDurable("plays");

    // the firing's steps: its email and webhook at once, the 24-hour email follow-up queued for later
    const steps = await api.database.db
      .select()
      .from(playActions)
      .where(and(eq(playActions.accountId, account), eq(playActions.play, "seat-limit")))
      .orderBy(playActions.step);
    expect(steps.map((s) => [s.step, s.status, s.dueAt.toISOString()])).toEqual([
      [0, "scheduled", "2026-03-25T15:00:00.000Z"],
      [1, "scheduled", "2026-03-26T15:00:00.000Z"],
    ]);
    const followUpJob = await job(steps[1]?.jobId ?? null);
    expect(followUpJob?.state).toBe("created");
    expect(new Date(followUpJob?.start_after as Date).toISOString()).toBe("2026-03-26T15:00:00.000Z");

    api.clock.set("2026-03-25T15:02:00Z"); // the step's job runs within a couple of minutes
    await runDueSteps(api.stepRunner, api.clock());
    const [sent] = await api.database.db
      .select()
      .from(playActions)
      .where(eq(playActions.id, steps[0]?.id ?? ""));
    expect([sent?.status, sent?.sent]).toEqual(["done", ["email", "webhook"]]);
    await mailer.deliverDue();
    // the invites also fired "3+ invites in 7 days", whose email the daily cap (1) holds back
    expect(smtp.messages).toHaveLength(1);
    const [mail] = smtp.messages;
    expect(mail?.to).toMatchObject({ text: "admin@acme.test" });
    expect(mail?.subject).toMatch(/^You've filled all \d+ seats on the Starter plan$/);
    expect(mail?.text).toContain("Adding a seat is $15/month — $7.74 today");
    expect(mail?.text).toContain("Add a seat for $15/month: https://app.acme.test/?uptier_prompt=prm_");
    expect(mail?.html).toContain('href="https://app.acme.test/?uptier_prompt=prm_');
    expect(rawHeader(mail as never, "List-Unsubscribe")).toMatch(
      /^<https:\/\/uptier\.acme\.test\/v1\/email\/unsubscribe\?token=/,
    );

    await api.log.drainDurable("webhooks");
    expect(
      await deliverDueWebhooks({ db: api.database.db, clock: api.clock, random: () => 0.5 }),
    ).toMatchObject({
      delivered: 1,
    });
    const [delivered] = receiver.received;
    const event = new Webhook(hook.json().secret).verify(
      delivered?.body ?? "",
      delivered?.headers as Record<string, string>,
    ) as { type: string; account: string; data: Record<string, unknown> };
    expect(event).toMatchObject({
      type: "play.webhook",
      account,
      data: {
        play: "seat-limit",
        step: 0,
        offer: { amount_due: 774, currency: "usd" },
        members: [{ user: "u-admin", email: "admin@acme.test", role: "admin" }],
      },
    });

    const listed = await api.request("GET", `/v1/prompts?account=${account}&user=u-admin&placement=modal`);
    expect(listed.statusCode, listed.body).toBe(200);
    const [prompt] = listed.json().data;
    expect(prompt).toMatchObject({ action: "buy" });
    expect(prompt.title).toMatch(/^You've filled all \d+ seats on the Starter plan$/);
    const due = prompt.quote.amount_due as number;
    expect(due).toBe(774); // $15 × 16/31, rounded once
    const dueText = `$${(due / 100).toFixed(2)}`;
    expect(prompt.body).toContain("Adding a seat is $15/month");
    expect(prompt.body).toContain(`${dueText} today`);
    expect(prompt.cta).toBe("Add a seat for $15/month");

    const shown = await api.request("POST", `/v1/prompts/${prompt.id}/events`, { account, type: "shown" });
    expect(shown.statusCode, shown.body).toBe(200);
    const checkout = await api.request("POST", "/v1/checkout", { quote: prompt.quote.id, member: adminId });
    expect([checkout.statusCode, checkout.json().status], checkout.body).toEqual([200, "succeeded"]);
    expect(checkout.json().attribution).toEqual({ prompt: prompt.id, play: "seat-limit", variant: null });

    // the plays see the checkout: the prompt converted, the follow-up is canceled with its job
    await api.log.drainDurable("plays");
    const [converted] = await api.database.db
      .select()
      .from(promptInstances)
      .where(eq(promptInstances.id, prompt.id));
    expect(converted?.state).toBe("converted");
    const [followUp] = await api.database.db
      .select()
      .from(playActions)
      .where(eq(playActions.id, steps[1]?.id ?? ""));
    expect([followUp?.status, followUp?.reason]).toEqual(["canceled", "the account converted"]);
    expect((await job(followUp?.jobId ?? null))?.state).toBe("cancelled");
    api.clock.set("2026-03-27T15:00:00Z");
    // nothing more is due: the bought seat does not bring the same refusal back as a new moment
    expect(await runDueSteps(api.stepRunner, api.clock())).toEqual([]);
    expect(smtp.messages).toHaveLength(1);
    const retried = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "latecomer@acme.test",
      invited_by: "u-admin",
    });
    expect(retried.statusCode, retried.body).toBe(201);
  });
});
