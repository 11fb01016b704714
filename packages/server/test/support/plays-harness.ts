import type { Playbook, PlayInput, ResolvedCatalog } from "@uptier/core";
import { afterAll, beforeAll } from "vitest";
import { buildApp } from "../../src/app.ts";
import { readCatalogFile } from "../../src/catalog-file.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { type OpenStepQueue, openStepQueue } from "../../src/jobs/play-jobs.ts";
import { parsePlaybookText } from "../../src/playbook-file.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import type { StepRunnerContext } from "../../src/services/plays/act.ts";
import { playsSubscription } from "../../src/services/plays/evaluate.ts";
import { webhookSubscription } from "../../src/services/webhooks/subscriber.ts";
import { formatIssue } from "../../src/yaml-locate.ts";
import {
  applyDemoCatalog,
  authenticatedRequests,
  openTestDatabase,
  type TestApi,
  testClock,
} from "./harness.ts";

export interface PlaysApi extends TestApi {
  /**
   * The log with the plays and webhooks subscribers: `log.drainDurable("plays")` evaluates what was
   * written, `log.drainDurable("webhooks")` queues deliveries.
   */
  readonly log: DomainEventLog;
  readonly playbook: Playbook;
  /** the queue of the plays' steps (pg-boss's `plays.act`, on the test database) */
  readonly steps: OpenStepQueue;
  /** what runs a step: `runDueSteps(api.stepRunner, at)` runs those due by `at` */
  readonly stepRunner: StepRunnerContext;
}

/**
 * An API on the demo catalog whose prompt routes and plays subscriber read the playbook `load`
 * builds from that catalog (the subscriber polls only when a test drains it).
 */
export function usePlaysApi(
  load: (catalog: ResolvedCatalog) => Promise<Playbook> | Playbook,
  clock?: string,
) {
  const api = {} as { -readonly [K in keyof PlaysApi]: PlaysApi[K] };
  let dropDatabase: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const read = await readCatalogFile(DEMO_CATALOG_FILE);
    if (!read.ok) throw new Error("the demo catalog is invalid");
    api.playbook = await load(read.validation.catalog);
    const source = async () => api.playbook;
    const database = await openTestDatabase();
    dropDatabase = database.dropDatabase;
    api.database = database;
    api.clock = testClock(clock);
    await applyDemoCatalog(database.db, api.clock());
    api.secret = (await createSecretKey(database.db, "test", api.clock())).secret;
    api.app = await buildApp({ db: database.db, clock: api.clock, logLevel: "silent", playbook: source });
    api.request = authenticatedRequests(api);
    api.steps = await openStepQueue(database);
    api.stepRunner = {
      db: database.db,
      clock: api.clock,
      playbook: source,
      appUrl: "https://app.acme.test/",
    };
    api.log = new DomainEventLog(database.db, 60_000);
    api.log.subscribeDurable(playsSubscription(source, api.steps));
    api.log.subscribeDurable(webhookSubscription(() => {}));
    await api.log.start();
  });
  afterAll(async () => {
    await api.log?.close();
    await api.steps?.stop();
    await api.app?.close();
    await api.database?.close();
    await dropDatabase?.();
  });
  return api as PlaysApi;
}

/** A playbook of these plays, validated against the catalog (a test's own plays). */
export function playbookOf(catalog: ResolvedCatalog, plays: readonly PlayInput[]): Playbook {
  const parsed = parsePlaybookText(JSON.stringify({ version: 1, plays }), catalog, "test.playbook.json");
  if (!parsed.ok) throw new Error(parsed.issues.map(formatIssue).join("\n"));
  return parsed.playbook;
}
