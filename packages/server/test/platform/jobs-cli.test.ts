import { eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { checkouts, scheduledChanges, subscriptions } from "../../src/db/schema/index.ts";
import { gatewaySet } from "../../src/gateways/gateway.ts";
import { SandboxGateway } from "../../src/gateways/sandbox.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { type BillingApi, customer, FaultyGateway, ProcessCrash } from "../support/billing-harness.ts";
import { useUptierCli } from "../support/cli-harness.ts";
import { applyDemoCatalog, authenticatedRequests, testClock } from "../support/harness.ts";

/**
 * `uptier billing recover-checkouts` and `uptier billing apply-scheduled-changes` in a child
 * process, on a database this test prepared first: a PGlite data directory (or, with
 * UPTIER_TEST_DB=postgres, a PostgreSQL database of its own) holding a checkout the process died in
 * and a downgrade due at the period end. The child runs on the real clock, long after both: the
 * stuck checkout's quote priced a period that is long over, so recovery gives its charge back
 * rather than apply the change (docs/billing.md, "A quote lives within its period"), and the
 * downgrade due at that period's end is applied.
 */
const cli = useUptierCli("uptier-jobs-cli-");
const openTarget = () => cli.openDatabase();
const uptier = (...args: string[]) => cli.run(...args);

// a child process per command (tsx + database start), slow on a busy 2-core machine
describe("uptier billing … in a child process", { timeout: 120_000 }, () => {
  it("recovers the stuck checkout (refunded: its period is over) and applies the due downgrade, printing the counts", async () => {
    // The state, made through the API on a test clock (Jan 17, 2026).
    const database = await openTarget();
    await database.migrate();
    const clock = testClock("2026-01-17T00:00:00Z");
    await applyDemoCatalog(database.db, clock());
    const secret = (await createSecretKey(database.db, "test", clock())).secret;
    const gateway = new FaultyGateway(new SandboxGateway(database.db));
    let app: FastifyInstance | undefined;
    let stuck: { quote: string; subscription: string };
    let downgraded: { subscription: string };
    try {
      app = await buildApp({ db: database.db, clock, logLevel: "silent", gateways: gatewaySet(gateway) });
      const request = authenticatedRequests({ app, secret });
      const api = { request } as unknown as BillingApi;
      const anchor = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };

      const a = await customer(api, "starter", anchor);
      const seats = (await request("POST", "/v1/quotes", { account: a.account, seats: 9 })).json();
      gateway.afterCharge = () => {
        throw new ProcessCrash();
      };
      expect((await request("POST", "/v1/checkout", { quote: seats.id, member: a.admin })).statusCode).toBe(
        500,
      );
      gateway.afterCharge = null;
      stuck = { quote: seats.id, subscription: a.subscription };

      const b = await customer(api, "pro", anchor);
      const down = (await request("POST", "/v1/quotes", { account: b.account, plan: "starter" })).json();
      expect(down).toMatchObject({ timing: "period_end" });
      expect(
        (await request("POST", "/v1/checkout", { quote: down.id, member: b.admin })).json(),
      ).toMatchObject({
        status: "succeeded",
      });
      downgraded = { subscription: b.subscription };
    } finally {
      await app?.close();
      await database.close();
    }

    const recovered = await uptier("billing", "recover-checkouts");
    expect(recovered, recovered.stderr).toMatchObject({ code: 0 });
    expect(recovered.stdout).toBe(
      "Examined 1 stuck checkout: 0 completed, 0 failed, 1 refunded, 0 canceled, 0 unresolved.\n",
    );
    const applied = await uptier("billing", "apply-scheduled-changes");
    expect(applied, applied.stderr).toMatchObject({ code: 0 });
    expect(applied.stdout).toBe("Applied 1 scheduled change.\n");

    const after = await openTarget();
    try {
      const [checkout] = await after.db.select().from(checkouts).where(eq(checkouts.quoteId, stuck.quote));
      expect(checkout).toMatchObject({ status: "refunded", failureCode: "quote_stale", invoiceId: null });
      const [seated] = await after.db
        .select()
        .from(subscriptions)
        .where(eq(subscriptions.id, stuck.subscription));
      expect(seated?.seats).toBe(5);
      const [plan] = await after.db
        .select()
        .from(subscriptions)
        .where(eq(subscriptions.id, downgraded.subscription));
      expect(plan?.planKey).toBe("starter");
      const [change] = await after.db
        .select()
        .from(scheduledChanges)
        .where(eq(scheduledChanges.subscriptionId, downgraded.subscription));
      expect(change?.status).toBe("applied");
    } finally {
      await after.close();
    }
  });
});
