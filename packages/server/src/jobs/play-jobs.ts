import PgBoss from "pg-boss";
import { type Database, sqlExecutorOf } from "../db/client.ts";
import { runPlayStep, type StepRunnerContext } from "../services/plays/act.ts";
import { evaluateScheduledPlays } from "../services/plays/evaluate.ts";
import { playbookInForce } from "../services/plays/playbook.ts";
import type { StepQueue } from "../services/plays/steps.ts";
import type { JobDefinition } from "./billing-jobs.ts";
import { ensureQueue, type TaskQueue } from "./queue.ts";

/**
 * The plays' jobs: each step of a firing (services/plays/steps.ts) is a job of `plays.act`, queued
 * in the firing's transaction to start at the step's due instant; and a schedule evaluates the
 * time-based plays (tenure, subscription months, renewal, account age).
 */
export const PLAY_STEPS_QUEUE = "plays.act";

/**
 * A step's job is retried with backoff (30 s, 1 min, 2 min, …) when it fails (its database work is
 * one transaction, so a failed run did nothing); one left active by a dead node expires after 5 min.
 */
export const PLAY_STEPS_QUEUE_OPTIONS = {
  policy: "standard",
  retryLimit: 8,
  retryDelay: 30,
  retryBackoff: true,
  expireInSeconds: 300,
} as const;

export interface OpenStepQueue extends StepQueue {
  stop(): Promise<void>;
}

/**
 * Every node queues steps (the evaluation runs wherever the domain-event log is drained), so each
 * opens this sender: pg-boss without workers or clock, its queue made sure of up front (a job sent
 * to a missing queue would be dropped).
 */
export async function openStepQueue(database: Pick<Database, "executeSql">): Promise<OpenStepQueue> {
  const db = { executeSql: (text: string, values?: unknown[]) => database.executeSql(text, values) };
  const boss = new PgBoss({ db, schedule: false, supervise: false });
  boss.on("error", () => {}); // no polling happens here: a send's own failure is thrown to its caller
  await boss.start();
  await ensureQueue(boss, PLAY_STEPS_QUEUE, PLAY_STEPS_QUEUE_OPTIONS);
  return {
    async enqueue(tx, step) {
      const id = await boss.send(
        PLAY_STEPS_QUEUE,
        { step: step.id },
        // among due jobs pg-boss takes the higher priority first: the play's
        { db: sqlExecutorOf(tx), startAfter: step.dueAt, singletonKey: step.id, priority: step.priority },
      );
      if (!id) throw new Error(`the job of play step ${step.id} was not queued`);
      return id;
    },
    async cancel(tx, jobIds) {
      await boss.cancel(PLAY_STEPS_QUEUE, [...jobIds], { db: sqlExecutorOf(tx) });
    },
    stop: () => boss.stop({ graceful: false }),
  };
}

/** The worker of `plays.act`: runs the step its job names. */
export function playStepsTask(ctx: StepRunnerContext): TaskQueue {
  return {
    name: PLAY_STEPS_QUEUE,
    options: PLAY_STEPS_QUEUE_OPTIONS,
    handle: async (data) => {
      const step = (data as { step?: unknown } | undefined)?.step;
      if (typeof step !== "string") throw new Error("a play step job without a step id");
      return runPlayStep(ctx, step);
    },
  };
}

/** Evaluates the time-based plays of every account, hourly (their windows are whole days). */
export function scheduledPlaysJob(queue: StepQueue): JobDefinition<{ prompts: number }> {
  return {
    name: "plays.evaluate-schedules",
    cron: "5 * * * *",
    description:
      "Evaluate the time-based plays (plan tenure, subscription months, days before renewal, account age) of every account",
    run: async (billing) => {
      const playbook = await playbookInForce(billing.db);
      if (!playbook) return { prompts: 0 };
      return { prompts: await evaluateScheduledPlays(billing.db, playbook, queue, billing.clock()) };
    },
    describe: (r) => `Made ${r.prompts} prompt${r.prompts === 1 ? "" : "s"} from the time-based plays.`,
    didWork: (r) => r.prompts > 0,
  };
}
