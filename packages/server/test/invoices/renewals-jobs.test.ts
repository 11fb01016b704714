import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renewSubscriptionsJob, retryInvoicePaymentsJob } from "../../src/jobs/billing-jobs.ts";
import { type JobRunner, startJobs } from "../../src/jobs/queue.ts";
import { type BillingApi, customer, invoicesOf, useBillingApi } from "../support/billing-harness.ts";
import { useUptierCli } from "../support/cli-harness.ts";

/**
 * billing.renew-subscriptions and billing.retry-invoice-payments through pg-boss (stately queues,
 * like the other billing jobs), and `uptier billing renew` / `uptier billing dunning` in a child
 * process, on PGlite and PostgreSQL.
 */
const api: BillingApi = useBillingApi();
const RENEW = renewSubscriptionsJob.name;
const RETRY = retryInvoicePaymentsJob.name;

describe("renewal and dunning jobs through pg-boss", () => {
  let runner: JobRunner;
  beforeAll(async () => {
    runner = await startJobs({
      database: api.database,
      billing: api.billing,
      jobs: [renewSubscriptionsJob, retryInvoicePaymentsJob],
      schedule: false,
    });
  });
  afterAll(async () => {
    await runner?.stop();
  });

  async function run(name: string) {
    const id = await runner.trigger(name);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const job = await runner.boss.getJobById(name, id as string);
      if (job && (job.state === "completed" || job.state === "failed")) return job;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${name}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it("creates stately queues and renews a due period once, then retries its declined payment on schedule", async () => {
    for (const name of [RENEW, RETRY])
      expect(await runner.boss.getQueue(name)).toMatchObject({ name, policy: "stately", retryLimit: 0 });
    const paying = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    const declining = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
    });
    api.clock.set("2026-02-01T00:00:05Z");
    expect(await run(RENEW)).toMatchObject({
      state: "completed",
      output: { renewed: 2, finalized: 2, paid: 1, failed: 1 },
    });
    expect(await run(RENEW)).toMatchObject({ state: "completed", output: { renewed: 0 } });
    const renewal = async (subscription: string) => (await invoicesOf(api, subscription))[0];
    expect((await renewal(paying.subscription))?.status).toBe("paid");
    expect((await renewal(declining.subscription))?.status).toBe("open");
    api.clock.set("2026-02-02T00:00:05Z");
    expect(await run(RETRY)).toMatchObject({ state: "completed", output: { attempted: 1, failed: 1 } });
    expect(await run(RETRY)).toMatchObject({ state: "completed", output: { attempted: 0 } });
  });
});

describe("uptier billing renew / dunning in a child process", { timeout: 120_000 }, () => {
  const uptier = useUptierCli("uptier-renew-cli-");

  it("runs each job once by its short name and says what it did", async () => {
    const renew = await uptier.exec(["billing", "renew"]);
    expect(renew.stdout).toBe("Renewed 0 subscription periods: 0 finalized, 0 paid, 0 payment failed.\n");
    const dunning = await uptier.exec(["billing", "dunning"]);
    expect(dunning.stdout).toMatch(
      /^Attempted 0 open invoices: 0 paid, 0 failed, 0 uncollectible; 0 interrupted attempts resumed\.\n$/,
    );
    const bad = await uptier
      .exec(["billing", "renew"], { UPTIER_DUNNING_RETRY_DAYS: "3,1" })
      .catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: expect.any(Number) });
    expect((bad as { stderr: string }).stderr).toContain("UPTIER_DUNNING_RETRY_DAYS");
  });
});
