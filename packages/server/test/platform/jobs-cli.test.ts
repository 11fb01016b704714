import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { readCatalogFile } from "../../src/catalog-file.ts";
import { type Database, openDatabase } from "../../src/db/client.ts";
import { checkouts, scheduledChanges, subscriptions } from "../../src/db/schema/index.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { gatewaySet } from "../../src/gateways/gateway.ts";
import { SandboxGateway } from "../../src/gateways/sandbox.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { applyCatalog } from "../../src/services/catalog/apply.ts";
import { type BillingApi, customer, FaultyGateway, ProcessCrash } from "../support/billing-harness.ts";
import { adminQuery, POSTGRES_URL, TEST_ENGINE, testClock } from "../support/harness.ts";

/**
 * `uptier billing recover-checkouts` and `uptier billing apply-scheduled-changes` in a child
 * process, on a database this test prepared first: a PGlite data directory (or, with
 * UPTIER_TEST_DB=postgres, a PostgreSQL database of its own) holding a checkout the process died in
 * and a downgrade due at the period end. The child runs on the real clock, long after both: the
 * stuck checkout's quote priced a period that is long over, so recovery gives its charge back
 * rather than apply the change (docs/billing.md, "A quote lives within its period"), and the
 * downgrade due at that period's end is applied.
 */
const run = promisify(execFile);
const cli = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
let dropDatabase = async () => {};

/** Opens the database the child process will open, the same way it will. */
async function openTarget(): Promise<Database> {
  if (TEST_ENGINE === "pglite") return openDatabase({ dataDir: join(dir, "data") });
  return openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: "" });
}

async function uptier(...args: string[]) {
  try {
    const { stdout, stderr } = await run(tsx, [cli, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "uptier-jobs-cli-"));
  env = { ...process.env, UPTIER_DATA_DIR: join(dir, "data"), DATABASE_URL: "", LOG_LEVEL: "silent" };
  if (TEST_ENGINE === "postgres") {
    const name = `uptier_test_${randomBytes(6).toString("hex")}`;
    await adminQuery(`create database ${name}`);
    dropDatabase = () => adminQuery(`drop database if exists ${name} with (force)`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
  }
});
afterAll(async () => {
  await dropDatabase();
  await rm(dir, { recursive: true, force: true });
});

// a child process per command (tsx + database start), slow on a busy 2-core machine
describe("uptier billing … in a child process", { timeout: 120_000 }, () => {
  it("recovers the stuck checkout (refunded: its period is over) and applies the due downgrade, printing the counts", async () => {
    // The state, made through the API on a test clock (Jan 17, 2026).
    const database = await openTarget();
    await database.migrate();
    const clock = testClock("2026-01-17T00:00:00Z");
    const file = await readCatalogFile(DEMO_CATALOG_FILE);
    if (!file.ok) throw new Error("the demo catalog is invalid");
    await database.db.transaction((tx) => applyCatalog(tx, file.validation.catalog, clock()));
    const secret = (await createSecretKey(database.db, "test", clock())).secret;
    const gateway = new FaultyGateway(new SandboxGateway());
    let app: FastifyInstance | undefined;
    let stuck: { quote: string; subscription: string };
    let downgraded: { subscription: string };
    try {
      app = await buildApp({ db: database.db, clock, logLevel: "silent", gateways: gatewaySet(gateway) });
      const request = async (method: "GET" | "POST", url: string, body?: unknown) =>
        (app as FastifyInstance).inject({
          method,
          url,
          headers: { authorization: `Bearer ${secret}` },
          ...(body === undefined ? {} : { payload: body as object }),
        });
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
