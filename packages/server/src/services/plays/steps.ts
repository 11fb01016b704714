import { type Play, playSteps } from "@uptier/core";
import { and, eq, gt } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { playActions } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";

/**
 * A play's steps beyond the prompt (core's playSteps: its email, webhook and CRM task at once, its
 * follow-ups later) as rows of play_actions, each run by a delayed job queued in the transaction
 * that records it: a firing that commits has its jobs, one that rolls back has none.
 */

/** Where the steps' jobs go (jobs/play-steps.ts: pg-boss's queue `plays.act`). */
export interface StepQueue {
  /** queues the step's job for `dueAt`, in `tx`; answers the job's id */
  enqueue(
    tx: Tx,
    step: { readonly id: string; readonly dueAt: Date; readonly priority: number },
  ): Promise<string>;
  /** cancels queued jobs, in `tx` (a job already running finds its step no longer scheduled) */
  cancel(tx: Tx, jobIds: readonly string[]): Promise<void>;
}

export interface Firing {
  readonly play: Play;
  readonly accountId: string;
  readonly cycle: string;
  readonly variant: string | null;
  readonly firedAt: Date;
}

/** Records and queues the steps of a firing; answers how many (none twice for one firing). */
export async function scheduleSteps(tx: Tx, queue: StepQueue, firing: Firing): Promise<number> {
  const steps = playSteps(firing.play, firing.firedAt);
  if (steps.length === 0) return 0;
  const made = await tx
    .insert(playActions)
    .values(
      steps.map((s) => ({
        id: newId("playAction", firing.firedAt),
        accountId: firing.accountId,
        play: firing.play.id,
        cycle: firing.cycle,
        step: s.step,
        variant: firing.variant,
        firedAt: firing.firedAt,
        dueAt: s.dueAt,
        status: "scheduled",
      })),
    )
    .onConflictDoNothing()
    .returning({ id: playActions.id, dueAt: playActions.dueAt });
  for (const step of made) {
    const jobId = await queue.enqueue(tx, { ...step, priority: firing.play.priority });
    await tx.update(playActions).set({ jobId }).where(eq(playActions.id, step.id));
  }
  return made.length;
}

/**
 * The account converted (a checkout succeeded): its scheduled follow-ups are canceled now, their
 * jobs with them. Step 0 is not a follow-up: it is sent at the firing whatever comes after.
 */
export async function cancelFollowUps(
  tx: Tx,
  queue: StepQueue,
  accountId: string,
  at: Date,
): Promise<number> {
  const canceled = await tx
    .update(playActions)
    .set({ status: "canceled", reason: "the account converted", doneAt: at })
    .where(
      and(eq(playActions.accountId, accountId), eq(playActions.status, "scheduled"), gt(playActions.step, 0)),
    )
    .returning({ jobId: playActions.jobId });
  const jobs = canceled.flatMap((c) => (c.jobId ? [c.jobId] : []));
  if (jobs.length > 0) await queue.cancel(tx, jobs);
  return canceled.length;
}
