import PgBoss from "pg-boss";
import type { Database } from "../db/client.ts";
import type { BillingContext } from "../services/context.ts";
import { BILLING_JOBS, type JobDefinition } from "./billing-jobs.ts";

/** The logging the jobs need (pino's and Fastify's loggers fit). */
export interface JobLogger {
  info(details: object, message: string): void;
  debug(details: object, message: string): void;
  error(details: object, message: string): void;
}

const silent: JobLogger = { info() {}, debug() {}, error() {} };

export interface JobRunnerOptions {
  /** the queue lives in the same database, in pg-boss's own `pgboss` schema */
  readonly database: Pick<Database, "executeSql">;
  readonly billing: BillingContext;
  readonly jobs?: readonly JobDefinition[];
  /** queues of one-off jobs (delayed, with data) this node works beside the scheduled jobs */
  readonly tasks?: readonly TaskQueue[];
  /**
   * Registers each job's cron schedule and runs pg-boss's clock (default true). Without it, this
   * node only works jobs that are sent (tests send them by hand).
   */
  readonly schedule?: boolean;
  readonly log?: JobLogger;
  /** how often an idle worker looks for a job (pg-boss's default: 2 s; at least 0.5 s) */
  readonly pollingIntervalSeconds?: number;
  /** how often scheduled jobs are moved into their queues (pg-boss's default: 5 s; at least 1 s) */
  readonly cronWorkerIntervalSeconds?: number;
}

/** A queue of one-off jobs with data, sent by the services (e.g. a play's follow-up, delayed 24 h). */
export interface TaskQueue {
  readonly name: string;
  readonly options: Omit<PgBoss.Queue, "name">;
  /** works one job; a throw is retried as the queue's options say */
  handle(data: unknown): Promise<unknown>;
}

export interface JobRunner {
  readonly boss: PgBoss;
  readonly jobs: readonly JobDefinition[];
  /**
   * Queues a run of a job now and wakes this node's worker; the id of the queued job, or null when
   * a run is already waiting (the queue holds one).
   */
  trigger(name: string): Promise<string | null>;
  /** stops polling and waits (up to 10 s) for a running job; the database stays open */
  stop(): Promise<void>;
}

/**
 * Each job has a queue with the `stately` policy: at most one run waiting and one running across
 * every node, so two nodes never work the same job at once and a slow run never piles up ticks.
 * pg-boss's clock makes one node send each schedule once per minute (a database row decides which).
 * A failed run is not retried: the next tick, a minute later, is the retry. A run left active by a
 * dead node expires after 5 minutes.
 */
export const QUEUE_OPTIONS = { policy: "stately", retryLimit: 0, expireInSeconds: 300 } as const;

/**
 * The queue pg-boss's clock moves due schedules through. Its clock creates it on start but ignores a
 * failure (two nodes creating queues at once can deadlock), and a schedule sent before it exists is
 * dropped without a word (pg-boss inserts jobs joined to their queue), so it is created up front.
 */
const PG_BOSS_SCHEDULE_QUEUE = "__pgboss__send-it";

export async function startJobs(options: JobRunnerOptions): Promise<JobRunner> {
  const { database, billing, jobs = BILLING_JOBS, tasks = [], schedule = true, log = silent } = options;
  const db = { executeSql: (text: string, values?: unknown[]) => database.executeSql(text, values) };
  // First the queues and the schedules, with pg-boss's clock still stopped: started with it, the
  // clock's first look at the schedules could come before they exist, and the first tick a minute late.
  const setup = new PgBoss({ db, schedule: false, supervise: false });
  setup.on("error", (error) => log.error({ err: error }, "job queue error"));
  try {
    await setup.start(); // installs or migrates the pgboss schema
    if (schedule) await ensureQueue(setup, PG_BOSS_SCHEDULE_QUEUE, {});
    for (const job of jobs) {
      await ensureQueue(setup, job.name, QUEUE_OPTIONS);
      if (schedule) await setup.schedule(job.name, job.cron, {}, { tz: "UTC" });
    }
    for (const task of tasks) await ensureQueue(setup, task.name, task.options);
  } finally {
    await setup.stop({ graceful: false });
  }
  const boss = new PgBoss({
    db,
    schedule,
    ...(options.cronWorkerIntervalSeconds
      ? { cronWorkerIntervalSeconds: options.cronWorkerIntervalSeconds }
      : {}),
  });
  // pg-boss reports its own failures (a lost connection, a maintenance error) here; unhandled they
  // would crash the process
  boss.on("error", (error) => log.error({ err: error }, "job queue error"));
  await boss.start();
  const workers = new Map<string, string>();
  try {
    for (const job of jobs) {
      const worker = await boss.work(
        job.name,
        { batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
        async ([queued]) => {
          const started = performance.now();
          try {
            const result = await job.run(billing);
            const details = {
              job: job.name,
              id: queued?.id,
              ms: Math.round(performance.now() - started),
              result,
            };
            if (job.didWork(result)) log.info(details, job.describe(result));
            else log.debug(details, job.describe(result));
            return result;
          } catch (error) {
            log.error({ job: job.name, id: queued?.id, err: error }, `job ${job.name} failed`);
            throw error;
          }
        },
      );
      workers.set(job.name, worker);
    }
    for (const task of tasks)
      await boss.work(
        task.name,
        { batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
        async ([queued]) => {
          try {
            return await task.handle(queued?.data);
          } catch (error) {
            log.error({ queue: task.name, id: queued?.id, err: error }, `job of ${task.name} failed`);
            throw error;
          }
        },
      );
  } catch (error) {
    await boss.stop({ graceful: false });
    throw error;
  }
  return {
    boss,
    jobs,
    async trigger(name) {
      const worker = workers.get(name);
      if (!worker) throw new Error(`no job named ${name}`);
      const id = await boss.send(name, {});
      boss.notifyWorker(worker);
      return id;
    },
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  };
}

/**
 * Creates the queue, or brings an existing one to the current options. Two nodes starting at once
 * can deadlock here (pg-boss adds a partition of its job table per queue): the loser tries again.
 */
export async function ensureQueue(
  boss: PgBoss,
  name: string,
  options: Omit<PgBoss.Queue, "name">,
): Promise<void> {
  const queue = { name, ...options };
  for (let attempt = 1; ; attempt++) {
    try {
      if (!(await boss.getQueue(name))) await boss.createQueue(name, queue);
      await boss.updateQueue(name, queue);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
    }
  }
}
