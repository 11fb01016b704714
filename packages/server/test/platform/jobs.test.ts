import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { checkouts, scheduledChanges, subscriptions } from "../../src/db/schema/index.ts";
import { applyScheduledChangesJob, recoverCheckoutsJob, runJobOnce } from "../../src/jobs/billing-jobs.ts";
import { type JobRunner, startJobs } from "../../src/jobs/queue.ts";
import {
  type BillingApi,
  customer,
  ProcessCrash,
  quoteOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * The billing jobs run through pg-boss on the test database (PGlite in memory, or PostgreSQL with
 * UPTIER_TEST_DB=postgres): a queued run resolves real stuck checkouts and applies real due
 * changes. Nobody waits for a cron minute: runs are sent by hand, and the two-node case relies on
 * pg-boss's clock sending every-minute schedules as soon as it starts.
 */
const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };
const START = "2026-01-17T00:00:00Z";
const RECOVER = recoverCheckoutsJob.name;
const APPLY = applyScheduledChangesJob.name;

const quote = (account: string, change: Record<string, unknown>) => quoteOf(api, account, change);
const checkout = (quoteId: string, member: string) =>
  api.request("POST", "/v1/checkout", { quote: quoteId, member });
const checkoutOf = async (quoteId: string) =>
  (await api.database.db.select().from(checkouts).where(eq(checkouts.quoteId, quoteId)))[0];
const subscriptionRow = async (id: string) =>
  (await api.database.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0];

/** A checkout the process "died" in after the gateway charged: left `pending`, charge collected. */
async function crashedCheckout() {
  const c = await customer(api, "starter", ANCHOR);
  const q = await quote(c.account, { seats: 9 });
  api.gateway.afterCharge = () => {
    throw new ProcessCrash("the process died here");
  };
  expect((await checkout(q.id, c.admin)).statusCode).toBe(500);
  api.gateway.afterCharge = null;
  expect((await checkoutOf(q.id))?.status).toBe("pending");
  return { ...c, quote: q.id as string };
}

/** A Pro customer who downgraded to Starter: the change waits for the period end (Feb 1). */
async function scheduledDowngrade() {
  const c = await customer(api, "pro", ANCHOR);
  const down = await quote(c.account, { plan: "starter" });
  expect(down).toMatchObject({ timing: "period_end", effective_at: "2026-02-01T00:00:00.000Z" });
  expect((await checkout(down.id, c.admin)).json()).toMatchObject({ status: "succeeded", amount: 0 });
  return c;
}

type QueuedJob = { id: string; state: string; output: unknown };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every job pg-boss holds for a queue, oldest first. */
async function jobsIn(name: string): Promise<QueuedJob[]> {
  const { rows } = await api.database.executeSql(
    "select id, state, output from pgboss.job where name = $1 order by created_on, id",
    [name],
  );
  return rows as QueuedJob[];
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe("billing jobs through pg-boss", () => {
  let runner: JobRunner;
  beforeAll(async () => {
    runner = await startJobs({ database: api.database, billing: api.billing, schedule: false });
  });
  afterAll(async () => {
    await runner?.stop();
  });

  /** Queues a run, lets this node's worker take it, and answers the finished job. */
  async function run(name: string) {
    const id = await runner.trigger(name);
    expect(id).toEqual(expect.any(String));
    return until(`${name} ${id}`, async () => {
      const job = await runner.boss.getJobById(name, id as string);
      return job && (job.state === "completed" || job.state === "failed") ? job : undefined;
    });
  }

  it("creates its queues: stately (one waiting, one running), no retries, 5-minute expiry", async () => {
    for (const name of [RECOVER, APPLY])
      expect(await runner.boss.getQueue(name)).toMatchObject({
        name,
        policy: "stately",
        retryLimit: 0,
        expireInSeconds: 300,
      });
  });

  it(`${RECOVER} finishes a checkout the process died in, once`, async () => {
    const c = await crashedCheckout();
    // too recent: recovery leaves it to the request that may still be running
    expect(await run(RECOVER)).toMatchObject({ state: "completed", output: { examined: 0 } });
    expect((await checkoutOf(c.quote))?.status).toBe("pending");
    api.clock.advance(120_000);
    try {
      expect(await run(RECOVER)).toMatchObject({
        state: "completed",
        output: { examined: 1, completed: 1, failed: 0, refunded: 0, canceled: 0, unresolved: 0 },
      });
      expect((await checkoutOf(c.quote))?.status).toBe("succeeded");
      expect((await subscriptionRow(c.subscription))?.seats).toBe(9);
      expect(await run(RECOVER)).toMatchObject({ state: "completed", output: { examined: 0 } });
    } finally {
      api.clock.set(START);
    }
  });

  it(`${APPLY} applies a downgrade once its period end has come`, async () => {
    const c = await scheduledDowngrade();
    expect(await run(APPLY)).toMatchObject({ state: "completed", output: { applied: 0 } });
    expect((await subscriptionRow(c.subscription))?.planKey).toBe("pro");
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      expect(await run(APPLY)).toMatchObject({ state: "completed", output: { applied: 1 } });
      expect((await subscriptionRow(c.subscription))?.planKey).toBe("starter");
      const [change] = await api.database.db
        .select()
        .from(scheduledChanges)
        .where(eq(scheduledChanges.subscriptionId, c.subscription));
      expect(change).toMatchObject({ status: "applied" });
      expect(await run(APPLY)).toMatchObject({ state: "completed", output: { applied: 0 } });
    } finally {
      api.clock.set(START);
    }
  });

  it("the CLI's one-off run (uptier billing …) does the same work and says what it did", async () => {
    const crashed = await crashedCheckout();
    const down = await scheduledDowngrade();
    api.clock.set("2026-01-17T00:02:00Z");
    try {
      expect(await runJobOnce(recoverCheckoutsJob, api.billing)).toBe(
        "Examined 1 stuck checkout: 1 completed, 0 failed, 0 refunded, 0 canceled, 0 unresolved.",
      );
      expect((await checkoutOf(crashed.quote))?.status).toBe("succeeded");
      expect(await runJobOnce(applyScheduledChangesJob, api.billing)).toBe("Applied 0 scheduled changes.");
      api.clock.set("2026-02-01T00:00:05Z");
      expect(await runJobOnce(applyScheduledChangesJob, api.billing)).toBe("Applied 1 scheduled change.");
      expect((await subscriptionRow(down.subscription))?.planKey).toBe("starter");
      expect(await runJobOnce(recoverCheckoutsJob, api.billing)).toBe(
        "Examined 0 stuck checkouts: 0 completed, 0 failed, 0 refunded, 0 canceled, 0 unresolved.",
      );
    } finally {
      api.clock.set(START);
    }
  });
});

describe("two nodes with the schedule on", () => {
  it("each job is sent and worked once per tick, by one node", async () => {
    // an abandoned 3-D Secure checkout (its quote has expired by Feb 1) and a due downgrade
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_requires_action" });
    const q = await quote(c.account, { seats: 6 });
    expect((await checkout(q.id, c.admin)).json()).toMatchObject({ status: "requires_action" });
    const down = await scheduledDowngrade();
    const before = { [RECOVER]: (await jobsIn(RECOVER)).length, [APPLY]: (await jobsIn(APPLY)).length };
    api.clock.set("2026-02-01T00:00:05Z");
    const nodes: JobRunner[] = [];
    try {
      const options = {
        database: api.database,
        billing: api.billing,
        // the two jobs under test only: the renewal job would apply the due downgrade itself (a
        // renewal prices the period after its scheduled change), racing the apply job for it
        jobs: [recoverCheckoutsJob, applyScheduledChangesJob],
        pollingIntervalSeconds: 0.5,
        cronWorkerIntervalSeconds: 1,
      };
      const started = performance.now();
      nodes.push(...(await Promise.all([startJobs(options), startJobs(options)])));
      const finished = async (name: string) => {
        const jobs = (await jobsIn(name)).slice(before[name]);
        return jobs.length > 0 && jobs.every((j) => j.state === "completed") ? jobs : undefined;
      };
      await until("both scheduled jobs to finish", async () =>
        (await finished(RECOVER)) && (await finished(APPLY)) ? true : undefined,
      );
      const tick = performance.now() - started;
      // time for a second node's duplicate to show up, were there one
      await sleep(1500);
      const recover = (await jobsIn(RECOVER)).slice(before[RECOVER]);
      const apply = (await jobsIn(APPLY)).slice(before[APPLY]);
      expect(recover).toMatchObject([
        { state: "completed", output: { examined: 1, canceled: 1, unresolved: 0 } },
      ]);
      expect(apply).toMatchObject([{ state: "completed", output: { applied: 1 } }]);
      expect(tick).toBeLessThan(10_000);
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      api.clock.set(START);
    }
    expect(await checkoutOf(q.id)).toMatchObject({ status: "canceled" });
    expect((await subscriptionRow(c.subscription))?.seats).toBe(5);
    expect((await subscriptionRow(down.subscription))?.planKey).toBe("starter");
    expect(await runJobOnce(recoverCheckoutsJob, api.billing)).toMatch(/^Examined 0 stuck/);
  });
});

describe("UPTIER_JOBS", () => {
  it("is on unless set to off (an API-only node), and nothing else", () => {
    expect(loadConfig({}).UPTIER_JOBS).toBe("on");
    expect(loadConfig({ UPTIER_JOBS: "off" }).UPTIER_JOBS).toBe("off");
    expect(() => loadConfig({ UPTIER_JOBS: "no" })).toThrow(/UPTIER_JOBS/);
  });
});
