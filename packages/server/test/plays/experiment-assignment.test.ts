import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { promptInstances } from "../../src/db/schema/index.ts";
import { parsePlaybookText } from "../../src/playbook-file.ts";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import { playsSubscription } from "../../src/services/plays/evaluate.ts";
import { formatIssue } from "../../src/yaml-locate.ts";
import { authenticatedRequests } from "../support/harness.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/**
 * An account's experiment arm is a draw of the play, the salt and the account id alone: a new app
 * on the same database (a restart, another node) and a change of the account's properties or plan
 * leave every account in its arm, for the prompts of later cycles as for the explanation.
 */
const PLAYBOOK = `
version: 1
plays:
  - id: reports
    name: Viewed a report
    trigger: { kind: event_count, event: report.viewed, count: 1, within_days: 1 }
    message: { title: "Reports, variant a", body: "Scheduled delivery." }
    placement: inline
    experiment:
      holdout: 25
      variants:
        - { id: a, weight: 50 }
        - { id: b, weight: 50, message: { title: "Reports, variant b" } }
`;

const api = usePlaysApi((catalog) => {
  const parsed = parsePlaybookText(PLAYBOOK, catalog, "experiment.playbook.yaml");
  if (!parsed.ok) throw new Error(parsed.issues.map(formatIssue).join("\n"));
  return parsed.playbook;
}, "2026-02-02T09:00:00Z");

let restarted: { app: FastifyInstance; log: DomainEventLog } | undefined;
afterAll(async () => {
  await restarted?.log.close();
  await restarted?.app.close();
});

type Request = typeof api.request;

let eventNo = 0;
async function viewedReport(request: Request, log: DomainEventLog, account: string) {
  eventNo += 1;
  const sent = await request("POST", "/v1/events", {
    id: `report-${eventNo}`,
    account,
    event: "report.viewed",
  });
  expect(sent.statusCode, sent.body).toBeLessThan(300);
  await log.drainDurable("plays");
}

/** The arms of the account's prompts, one per cycle in time order: a variant, or none in the holdout. */
async function armsByCycle(account: string) {
  const rows = await api.database.db
    .select({ cycle: promptInstances.cycle, variant: promptInstances.variant })
    .from(promptInstances)
    .where(and(eq(promptInstances.accountId, account), eq(promptInstances.play, "reports")));
  return rows.sort((x, y) => x.cycle.localeCompare(y.cycle)).map((r) => r.variant);
}

/** The explanation's experiment stage: the arm the app draws for the account now. */
async function explainedArm(request: Request, account: string) {
  const response = await request(
    "GET",
    `/v1/prompts/explain?account=${account}&user=u-${account}&play=reports`,
  );
  expect(response.statusCode, response.body).toBe(200);
  const step = response.json().steps.find((s: { stage: string }) => s.stage === "experiment");
  return step.code === "experiment_holdout" ? "holdout" : (step.details.variant as string);
}

describe("experiment assignment", () => {
  it("keeps every account in its arm across a restart and changes of its properties and plan", async () => {
    // accounts until the holdout and both variants have at least two each (the draw is by id)
    const arms = new Map<string, string>();
    const subscriptions = new Map<string, string>();
    const count = (arm: string) => [...arms.values()].filter((a) => a === arm).length;
    while (arms.size < 80 && !["holdout", "a", "b"].every((arm) => count(arm) >= 2)) {
      const external = `ext_${randomBytes(5).toString("hex")}`;
      const account = (
        await api.request("POST", "/v1/accounts", {
          external_id: external,
          name: external,
          properties: { tier: "bronze" },
        })
      ).json().id as string;
      const sub = await api.request("POST", "/v1/subscriptions", { account, plan: "starter" });
      expect(sub.statusCode, sub.body).toBe(201);
      subscriptions.set(account, sub.json().id);
      const admin = await api.request("POST", `/v1/accounts/${account}/members`, {
        email: `admin-${external}@example.test`,
        role: "admin",
        user_id: `u-${account}`,
        status: "active",
      });
      expect(admin.statusCode, admin.body).toBe(201);
      await viewedReport(api.request, api.log, account);
      const [variant, ...more] = await armsByCycle(account);
      expect(more).toEqual([]);
      const arm = variant === undefined ? "holdout" : (variant as string);
      expect(await explainedArm(api.request, account)).toBe(arm);
      arms.set(account, arm);
    }
    expect(["holdout", "a", "b"].map(count).every((n) => n >= 2)).toBe(true);

    // a restart: the first app and its subscriber stop; a new one opens the same database
    await api.log.close();
    const app = await buildApp({
      db: api.database.db,
      clock: api.clock,
      logLevel: "silent",
      playbook: async () => api.playbook,
    });
    const log = new DomainEventLog(api.database.db, 60_000);
    log.subscribeDurable(playsSubscription(async () => api.playbook, api.steps));
    await log.start();
    restarted = { app, log };
    const request = authenticatedRequests({ app, secret: api.secret });

    // every account's attributes change: its properties, and its plan (Starter → Pro)
    api.clock.advance(3 * 86_400_000); // past the one-day episode: the next view is a new cycle
    for (const [account, arm] of arms) {
      const props = await request("PATCH", `/v1/accounts/${account}`, {
        properties: { tier: "gold", employees: 500, segment: "enterprise" },
      });
      expect(props.statusCode, props.body).toBe(200);
      const plan = await request("PATCH", `/v1/subscriptions/${subscriptions.get(account)}`, { plan: "pro" });
      expect([plan.statusCode, plan.json().plan], plan.body).toEqual([200, "pro"]);
      await viewedReport(request, log, account);
      const cycles = await armsByCycle(account);
      // the holdout makes no prompt in either cycle; a variant makes one per cycle, the same
      expect(cycles).toEqual(arm === "holdout" ? [] : [arm, arm]);
      expect(await explainedArm(request, account)).toBe(arm);
    }
  });
});
