import { randomBytes } from "node:crypto";
import type { PlayInput } from "@uptier/core";
import { and, asc, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, emailMessages, playActions } from "../../src/db/schema/index.ts";
import { playStepsTask } from "../../src/jobs/play-jobs.ts";
import { startJobs } from "../../src/jobs/queue.ts";
import { billingContext } from "../../src/services/context.ts";
import { runDueSteps } from "../../src/services/plays/act.ts";
import { playbookOf, usePlaysApi } from "../support/plays-harness.ts";

/**
 * Follow-ups are durable jobs that check their moment again when they fire: one finds its seat
 * freed, one waits for a node that starts after it was queued, a clicked prompt silences the
 * follow-up that waits for a click, and a CRM task is a domain event.
 */
const seatLimit: PlayInput = {
  id: "seats-full",
  name: "Seats full",
  trigger: { kind: "seat_limit_hit" },
  audience: { plans: ["starter"] },
  offer: { change: { kind: "seats", add: 1 } },
  message: { title: "All {{seats.limit}} seats are taken", body: "One more is {{seat.price}}." },
  placement: "modal",
  channels: ["in_app"],
  follow_ups: [
    { after: "24h", unless: "clicked", channels: ["email"], message: { title: "Still full", body: "b" } },
    {
      after: "3d",
      channels: ["crm_task", "in_app"],
      message: { title: "Call {{account.name}}", body: "Seats full for 3 days." },
    },
  ],
};
const api = usePlaysApi((catalog) => playbookOf(catalog, [seatLimit]), "2026-03-10T15:00:00Z");

/** A Starter customer with an admin and its seats all taken, whose last invite was just refused. */
async function fullCustomer() {
  api.clock.set("2026-03-10T15:00:00Z");
  const account = (
    await api.request("POST", "/v1/accounts", {
      external_id: `ext_${randomBytes(5).toString("hex")}`,
      name: "Acme",
    })
  ).json().id as string;
  expect((await api.request("POST", "/v1/subscriptions", { account, plan: "starter" })).statusCode).toBe(201);
  await api.request("POST", `/v1/accounts/${account}/members`, {
    email: "admin@acme.test",
    role: "admin",
    user_id: "u-admin",
    status: "active",
  });
  const mates: string[] = [];
  for (let i = 0; i < 50; i++) {
    const invite = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: `mate${i}@acme.test`,
      invited_by: "u-admin",
    });
    if (invite.statusCode !== 201) break;
    mates.push(invite.json().id as string);
  }
  await api.log.drainDurable("plays");
  const steps = await stepsOf(account);
  expect(steps.map((s) => [s.step, s.status])).toEqual([
    [1, "scheduled"],
    [2, "scheduled"],
  ]);
  return { account, mates, steps };
}

const stepsOf = (account: string) =>
  api.database.db
    .select()
    .from(playActions)
    .where(eq(playActions.accountId, account))
    .orderBy(asc(playActions.step));

const emailsTo = (account: string) =>
  api.database.db.select().from(emailMessages).where(eq(emailMessages.accountId, account));

describe("follow-ups", () => {
  it("skips a follow-up whose moment is gone: a seat was freed before it fired", async () => {
    const { account, mates } = await fullCustomer();
    api.clock.set("2026-03-11T09:00:00Z");
    const removed = await api.request("DELETE", `/v1/accounts/${account}/members/${mates[0]}`);
    expect(removed.statusCode, removed.body).toBe(200);
    api.clock.set("2026-03-11T15:00:00Z");
    await runDueSteps(api.stepRunner, api.clock());
    const [followUp] = await stepsOf(account);
    expect(followUp?.status).toBe("skipped");
    expect(followUp?.reason).toMatch(/^its condition is gone: a seat is free now: \d+ of \d+ in use$/);
    expect(await emailsTo(account)).toEqual([]);
  });

  it("skips a follow-up that waits for a click once the prompt was clicked", async () => {
    const { account, steps } = await fullCustomer();
    const [prompt] = (
      await api.request("GET", `/v1/prompts?account=${account}&user=u-admin&placement=modal`)
    ).json().data;
    for (const type of ["shown", "clicked"])
      expect(
        (await api.request("POST", `/v1/prompts/${prompt.id}/events`, { account, type })).statusCode,
      ).toBe(200);
    api.clock.set("2026-03-11T15:00:00Z");
    await runDueSteps(api.stepRunner, api.clock());
    const [followUp] = await stepsOf(account);
    expect([followUp?.id, followUp?.status, followUp?.reason]).toEqual([
      steps[0]?.id,
      "skipped",
      "the prompt was clicked",
    ]);
  });

  it("runs on a worker that started after it was queued, and opens a CRM task on day 3", async () => {
    const { account } = await fullCustomer();
    // A node that did not exist when the steps were queued works them from the database. (Test time
    // is in the past of the database's clock, so pg-boss finds both due at once.)
    const at = new Date("2026-03-13T15:00:00Z");
    const runner = await startJobs({
      database: api.database,
      billing: billingContext(api.database.db),
      jobs: [],
      tasks: [playStepsTask({ ...api.stepRunner, clock: () => at })],
      schedule: false,
      pollingIntervalSeconds: 0.5,
    });
    try {
      for (let i = 0; i < 100; i++) {
        const steps = await stepsOf(account);
        if (steps.every((s) => s.status !== "scheduled")) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await runner.stop();
    }
    const steps = await stepsOf(account);
    expect(steps.map((s) => [s.step, s.status, s.sent])).toEqual([
      [1, "done", ["email"]],
      [2, "done", ["crm_task", "in_app"]],
    ]);
    const [email] = await emailsTo(account);
    expect([email?.to, email?.subject]).toEqual(["admin@acme.test", "Still full"]);
    const [task] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, account), eq(domainEvents.type, "crm_task.created")));
    expect(task?.data).toMatchObject({
      play: "seats-full",
      step: 2,
      title: "Call Acme",
      body: "Seats full for 3 days.",
      members: [{ user: "u-admin", role: "admin" }],
      task: expect.stringMatching(/^task_/),
    });
  });
});
