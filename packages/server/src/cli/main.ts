#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { buildApp } from "../app.ts";
import { formatIssue, type LocatedIssue, readCatalogFile } from "../catalog-file.ts";
import { loadConfig, meteringOptions, smtpSettings, vendorProfile, webhookPolicy } from "../config.ts";
import type { Db } from "../db/client.ts";
import { DEMO_CATALOG_FILE as DEMO_CATALOG } from "../demo/catalog-file.ts";
import { type DemoKey, ensureDemoKey } from "../demo/demo-key.ts";
import { DEMO_PLAYBOOK_FILE } from "../demo/playbook-file.ts";
import { seedDemo } from "../demo/seed.ts";
import { pruneIdempotencyKeys } from "../http/plugins/idempotency.ts";
import { BILLING_JOBS, runJobOnce } from "../jobs/billing-jobs.ts";
import { openStepQueue, playStepsTask, scheduledPlaysJob } from "../jobs/play-jobs.ts";
import { startJobs } from "../jobs/queue.ts";
import { resumeTestClocksJob } from "../jobs/test-clock-jobs.ts";
import { parsePlaybookText } from "../playbook-file.ts";
import { openMigratedDatabase } from "../runtime.ts";
import { createSecretKey, listKeys, revokeKey } from "../services/accounts/api-keys.ts";
import { applyCatalog, currentCatalog } from "../services/catalog/apply.ts";
import { billingContext, defaultGateways } from "../services/context.ts";
import { smtpMailer } from "../services/email/mailer.ts";
import { DomainError } from "../services/errors.ts";
import { playsSubscription } from "../services/plays/evaluate.ts";
import { applyPlaybook, checkPlaybook, currentPlaybook } from "../services/plays/playbook.ts";
import { PlaybookCache } from "../services/plays/playbook-cache.ts";
import { startWebhookDelivery } from "../services/webhooks/deliver.ts";
import { webhookSubscription } from "../services/webhooks/subscriber.ts";

const program = new Command("uptier")
  .description("Uptier: expansion revenue for B2B SaaS")
  .showHelpAfterError();

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

async function withDatabase<T>(
  run: (db: Awaited<ReturnType<typeof openMigratedDatabase>>) => Promise<T>,
): Promise<T> {
  const database = await openMigratedDatabase(loadConfig());
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}

async function applyCatalogFile(db: Db, file: string) {
  const result = await readCatalogFile(file);
  if (!result.ok) fail(`the catalog is invalid:\n${result.issues.map(formatIssue).join("\n")}`);
  return db.transaction((tx) => applyCatalog(tx, result.validation.catalog, new Date()));
}

/** Every issue of a playbook file as `file:line:col: path: message`, one a line. */
function playbookIssues(file: string, issues: readonly Omit<LocatedIssue, "file">[]): string {
  return issues.map((issue) => formatIssue({ ...issue, file })).join("\n");
}

/** Applies a playbook file against the catalog in force; refused whole, with every issue. */
async function applyPlaybookFile(db: Db, file: string) {
  const text = await readFile(file, "utf8");
  try {
    return await db.transaction((tx) => applyPlaybook(tx, { text, file }, new Date()));
  } catch (error) {
    if (error instanceof DomainError && error.extra.issues)
      fail(`the playbook is invalid:\n${playbookIssues(file, error.extra.issues)}`);
    throw error;
  }
}

program
  .command("start")
  .description("Start the HTTP API (migrates the database first)")
  .option("--demo", "apply the demo catalog and seed demo accounts when the database is empty")
  .action(async (options: { demo?: boolean }) => {
    const config = loadConfig();
    const database = await openMigratedDatabase(config);
    const now = new Date();
    let demo: DemoKey | undefined;
    if (options.demo) {
      if (!(await currentCatalog(database.db))) await applyCatalogFile(database.db, DEMO_CATALOG);
      if (!(await currentPlaybook(database.db))) await applyPlaybookFile(database.db, DEMO_PLAYBOOK_FILE);
      const seeded = await seedDemo(database.db, now);
      if (seeded.seeded) process.stdout.write(`Seeded ${seeded.accounts} demo accounts.\n`);
      demo = await ensureDemoKey(database.db, config.UPTIER_DATA_DIR, now);
    }
    await pruneIdempotencyKeys(database.db, now);
    const playbook = await currentPlaybook(database.db);
    // one set of gateways for the API and the jobs
    const gateways = defaultGateways(database.db);
    // deliveries are queued on every node and sent where the jobs run
    let webhooks: ReturnType<typeof startWebhookDelivery> | null = null;
    const steps = await openStepQueue(database);
    // one playbook in memory for the prompt routes and the evaluation, fresh by the app's event log
    const playbooks = new PlaybookCache(database.db);
    const app = await buildApp({
      db: database.db,
      logLevel: config.LOG_LEVEL,
      gateways,
      metering: meteringOptions(config),
      webhooks: webhookPolicy(config),
      vendor: vendorProfile(config),
      playbook: playbooks,
      subscribers: [webhookSubscription(() => webhooks?.wake()), playsSubscription(playbooks.inForce, steps)],
    });
    const address = await app.listen({ port: config.PORT, host: config.HOST });
    const smtp = smtpSettings(config);
    const mailer = smtp ? smtpMailer(database.db, smtp, { log: app.log }) : null;
    const jobs =
      config.UPTIER_JOBS === "on"
        ? await startJobs({
            database,
            billing: billingContext(database.db, gateways),
            jobs: [
              ...BILLING_JOBS,
              scheduledPlaysJob(steps),
              resumeTestClocksJob(playbooks.inForce, {
                appUrl: config.UPTIER_APP_URL ?? null,
                emailQueued: () => mailer?.wake(),
              }),
            ],
            tasks: [
              playStepsTask({
                db: database.db,
                clock: () => new Date(),
                playbook: playbooks.inForce,
                appUrl: config.UPTIER_APP_URL ?? null,
                emailQueued: () => mailer?.wake(),
              }),
            ],
            log: app.log,
          })
        : null;
    // the outbound channels' workers run where the jobs do
    webhooks = jobs ? startWebhookDelivery({ db: database.db, log: app.log }) : null;
    if (jobs) mailer?.start();
    const shutdown = async () => {
      await app.close();
      await jobs?.stop().catch((error: unknown) => app.log.error({ err: error }, "stopping the jobs failed"));
      await steps.stop();
      await webhooks?.stop();
      await mailer?.stop();
      await database.close();
      process.exit(0);
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
    const where =
      database.engine === "pglite" ? `embedded PGlite in ${config.UPTIER_DATA_DIR}` : "PostgreSQL";
    process.stdout.write(
      `\nUptier is running at ${address} (${where})\n  API reference: ${address}/docs\n  OpenAPI:       ${address}/openapi.json\n`,
    );
    process.stdout.write(
      jobs
        ? `  Background jobs: ${jobs.jobs.map((j) => `${j.name} (${j.cron})`).join(", ")}\n`
        : "  Background jobs: off (UPTIER_JOBS=off)\n",
    );
    process.stdout.write(
      `  Webhook delivery: ${webhooks ? "on" : "off"}; email: ${smtp ? `SMTP as ${smtp.from}` : "off (set UPTIER_SMTP_URL)"}\n`,
    );
    process.stdout.write(
      playbook
        ? `  Playbook: version ${playbook.version}, ${playbook.playbook.plays.length} plays (catalog version ${playbook.catalogVersion})\n`
        : "  Playbook: none (uptier playbook apply <file>)\n",
    );
    if (demo) {
      const demoKey = demo.secret;
      process.stdout.write(
        `\nDemo secret key: ${demoKey}\n` +
          (demo.unsaved
            ? `  (not saved to ${demo.file}: ${demo.unsaved}; copy it now, it is shown only this once)\n`
            : "") +
          "\nTry:\n" +
          `  curl -s ${address}/v1/accounts?limit=3 -H "Authorization: Bearer ${demoKey}"\n` +
          `  curl -s ${address}/v1/catalog -H "Authorization: Bearer ${demoKey}"\n` +
          `  curl -s -X POST ${address}/v1/accounts -H "Authorization: Bearer ${demoKey}" -H "Content-Type: application/json" -H "Idempotency-Key: $(date +%s)" -d '{"external_id":"my-first-customer","name":"My First Customer"}'\n\n`,
      );
    }
  });

program
  .command("migrate")
  .description("Apply the database migrations")
  .action(() =>
    withDatabase(async (database) => {
      process.stdout.write(`Migrations applied (${database.engine}).\n`);
    }),
  );

const keys = program.command("keys").description("Manage secret API keys");
keys
  .command("create")
  .option("--name <name>", "what the key is for", "default")
  .action((options: { name: string }) =>
    withDatabase(async ({ db }) => {
      const key = await createSecretKey(db, options.name, new Date());
      process.stdout.write(`Created ${key.id} (${key.name}). The secret is shown once:\n${key.secret}\n`);
    }),
  );
keys.command("list").action(() =>
  withDatabase(async ({ db }) => {
    for (const key of await listKeys(db))
      process.stdout.write(
        `${key.id}\t${key.prefix}…\t${key.name}\t${key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : "active"}\n`,
      );
  }),
);
keys.command("revoke <id>").action((id: string) =>
  withDatabase(async ({ db }) => {
    if (!(await revokeKey(db, id, new Date()))) fail(`no key with id ${id}`);
    process.stdout.write(`Revoked ${id}.\n`);
  }),
);

const catalog = program.command("catalog").description("Validate and apply the catalog file");
catalog.command("validate <file>").action(async (file: string) => {
  const result = await readCatalogFile(file);
  if (!result.ok) fail(`the catalog is invalid:\n${result.issues.map(formatIssue).join("\n")}`);
  const c = result.validation.catalog;
  process.stdout.write(
    `${file} is valid: ${Object.keys(c.features).length} features, ${Object.keys(c.meters).length} meters, ${Object.keys(c.plans).length} plans, ${Object.keys(c.add_ons).length} add-ons.\n`,
  );
});
catalog.command("apply <file>").action((file: string) =>
  withDatabase(async ({ db }) => {
    const result = await applyCatalogFile(db, file);
    if (!result.changed)
      process.stdout.write(`No changes: the catalog is already version ${result.version}.\n`);
    else {
      process.stdout.write(`Applied catalog version ${result.version}:\n`);
      for (const c of result.changes)
        process.stdout.write(`  ${c.kind} ${c.key}: ${c.change}${c.version ? ` (v${c.version})` : ""}\n`);
    }
  }),
);

const playbook = program
  .command("playbook")
  .description("Validate and apply the playbook file (uptier.playbook.yaml)");
playbook
  .command("validate <file>")
  .description("Validate against the catalog in force, or against a catalog file with --catalog")
  .option("--catalog <file>", "validate against this catalog file instead of the database's")
  .action(async (file: string, options: { catalog?: string }) => {
    const text = await readFile(file, "utf8");
    let check: Awaited<ReturnType<typeof checkPlaybook>>;
    if (options.catalog) {
      const catalogFile = await readCatalogFile(options.catalog);
      if (!catalogFile.ok) fail(`the catalog is invalid:\n${catalogFile.issues.map(formatIssue).join("\n")}`);
      const result = parsePlaybookText(text, catalogFile.validation.catalog, file);
      check = result.ok ? { ok: true, playbook: result.playbook, catalogVersion: 0 } : result;
    } else check = await withDatabase(({ db }) => checkPlaybook(db, { text, file }));
    if (!check.ok) fail(`the playbook is invalid:\n${playbookIssues(file, check.issues)}`);
    process.stdout.write(`${file} is valid: ${check.playbook.plays.length} plays.\n`);
  });
playbook.command("apply <file>").action((file: string) =>
  withDatabase(async ({ db }) => {
    const result = await applyPlaybookFile(db, file);
    process.stdout.write(
      result.changed
        ? `Applied playbook version ${result.version}: ${result.playbook.plays.length} plays, against catalog version ${result.catalogVersion}.\n`
        : `No changes: the playbook is already version ${result.version}.\n`,
    );
  }),
);

const billing = program
  .command("billing")
  .description("Run a billing job once, now (the server runs them every minute)");
for (const job of BILLING_JOBS)
  billing
    .command(job.name.replace(/^billing\./, ""))
    .aliases([...(job.aliases ?? [])])
    .description(job.description)
    .action(() =>
      withDatabase(async ({ db }) => {
        process.stdout.write(`${await runJobOnce(job, billingContext(db))}\n`);
      }),
    );

program
  .command("seed-demo")
  .description(
    "Apply the demo catalog (and playbook, when none is in force) and seed demo accounts into an empty database",
  )
  .action(() =>
    withDatabase(async ({ db }) => {
      await applyCatalogFile(db, DEMO_CATALOG);
      if (!(await currentPlaybook(db))) await applyPlaybookFile(db, DEMO_PLAYBOOK_FILE);
      const result = await seedDemo(db, new Date());
      process.stdout.write(
        result.seeded
          ? `Seeded ${result.accounts} demo accounts.\n`
          : `Not seeded: the database already has ${result.accounts} accounts.\n`,
      );
    }),
  );

program.parseAsync().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
