import { type BillingInterval, periodAt } from "@uptier/core";
import { and, type Column, eq, gt, isNull, lt, lte, ne, or, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import { invoices, playActions, scheduledChanges, subscriptions, testClocks } from "../../db/schema/index.ts";
import { recoverCheckouts } from "../checkout/index.ts";
import type { BillingContext } from "../context.ts";
import { DomainError } from "../errors.ts";
import { retryInvoicePayments } from "../invoices/collection.ts";
import { renewSubscriptions } from "../invoices/renewals.ts";
import { runDueSteps } from "../plays/act.ts";
import { evaluateScheduledPlays, hasTimeBasedPlays, type PlaybookSource } from "../plays/evaluate.ts";
import type { StepQueue } from "../plays/steps.ts";
import { applyScheduledChanges } from "../subscriptions/scheduled-changes.ts";
import { findTestClock, getTestClock } from "./clocks.ts";

/**
 * Advancing a test clock (docs/test-clocks.md). The advance walks from the clock's time to its
 * target in steps: each step is the next instant something of the clock's accounts is due (a period
 * boundary, a trial's or a term's end, a scheduled change, a dunning retry, a play's step or, with
 * time-based plays, a day), where it runs the jobs as of that instant, scoped to the clock's
 * accounts, in order: recovery of checkouts left mid-way, renewals (trial ends and final invoices
 * with them), dunning retries, scheduled changes, then the plays' schedules and due steps. The new
 * frozen time is committed after each step: a crash resumes from the last one, and the jobs are
 * idempotent, so a step run again does nothing twice. A lease (real time) keeps one node on a clock.
 */

export interface AdvanceContext {
  /** the deployment's billing context; its clock is real time (the lease's) */
  readonly billing: BillingContext;
  readonly playbook: PlaybookSource;
  /** the vendor's app, where a play email's call to action leads */
  readonly appUrl?: string | null;
  readonly emailQueued?: () => void;
}

export interface AdvanceReport {
  readonly clock: string;
  readonly steps: number;
  readonly frozenTime: Date;
}

/** How long a node holds a clock it advances without finishing a step (a dead node's lapses). */
export const ADVANCE_LEASE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/**
 * Starts an advance to `to`: the clock becomes `advancing`. Asking again for the same target while
 * it advances answers the clock as it stands; another target waits until it is ready.
 */
export async function startAdvance(tx: Tx, id: string, to: Date) {
  const row = await findTestClock(tx, id, true);
  if (row.status === "advancing") {
    if (row.advancingTo?.getTime() === to.getTime()) return getTestClock(tx, id);
    throw new DomainError(
      "test_clock_advancing",
      `Test clock ${id} is advancing; advance it again once it is ready.`,
    );
  }
  if (to.getTime() <= row.frozenTime.getTime())
    throw new DomainError(
      "test_clock_backwards",
      `A test clock only moves forward: ${to.toISOString()} is not after its time, ${row.frozenTime.toISOString()}.`,
      { param: "to" },
    );
  await tx.update(testClocks).set({ status: "advancing", advancingTo: to }).where(eq(testClocks.id, id));
  return getTestClock(tx, id);
}

/**
 * Runs the advance of a clock that is `advancing` to its end, step by step, unless another node
 * holds it (answers null then). Safe to call again after a crash or an error: it resumes.
 */
export async function advanceTestClock(ctx: AdvanceContext, id: string): Promise<AdvanceReport | null> {
  const { db } = ctx.billing;
  if (!(await takeLease(ctx, id))) return null;
  let steps = 0;
  try {
    for (;;) {
      const [row] = await db.select().from(testClocks).where(eq(testClocks.id, id));
      if (row?.status !== "advancing" || !row.advancingTo) return null;
      if (row.frozenTime.getTime() >= row.advancingTo.getTime()) {
        await db
          .update(testClocks)
          .set({ status: "ready", advancingTo: null, leaseUntil: null })
          .where(eq(testClocks.id, id));
        return { clock: id, steps, frozenTime: row.frozenTime };
      }
      const at = await nextStop(ctx, id, row.frozenTime, row.advancingTo);
      await runDueWork(ctx, id, at);
      await db
        .update(testClocks)
        .set({
          frozenTime: at,
          steps: sql`${testClocks.steps} + 1`,
          leaseUntil: new Date(ctx.billing.clock().getTime() + ADVANCE_LEASE_MS),
        })
        .where(eq(testClocks.id, id));
      steps++;
    }
  } catch (error) {
    // this node is alive: let the next try (the resume job, a retried request) take it at once
    await db.update(testClocks).set({ leaseUntil: null }).where(eq(testClocks.id, id));
    throw error;
  }
}

/** The resume job: every clock left advancing whose lease has lapsed (a dead node's) or was let go. */
export async function resumeAdvances(ctx: AdvanceContext): Promise<AdvanceReport[]> {
  const now = ctx.billing.clock();
  const stuck = await ctx.billing.db
    .select({ id: testClocks.id })
    .from(testClocks)
    .where(
      and(
        eq(testClocks.status, "advancing"),
        isNull(testClocks.deletedAt),
        or(isNull(testClocks.leaseUntil), lt(testClocks.leaseUntil, now)),
      ),
    );
  const reports: AdvanceReport[] = [];
  for (const { id } of stuck) {
    const report = await advanceTestClock(ctx, id);
    if (report) reports.push(report);
  }
  return reports;
}

async function takeLease(ctx: AdvanceContext, id: string): Promise<boolean> {
  const now = ctx.billing.clock();
  const [taken] = await ctx.billing.db
    .update(testClocks)
    .set({ leaseUntil: new Date(now.getTime() + ADVANCE_LEASE_MS) })
    .where(
      and(
        eq(testClocks.id, id),
        eq(testClocks.status, "advancing"),
        or(isNull(testClocks.leaseUntil), lt(testClocks.leaseUntil, now)),
      ),
    )
    .returning({ id: testClocks.id });
  return taken !== undefined;
}

/** Everything of the clock's accounts due by `at`, as of `at`, in order. */
async function runDueWork(ctx: AdvanceContext, clock: string, at: Date): Promise<void> {
  const billing: BillingContext = { ...ctx.billing, clock: () => at, testClock: clock };
  await recoverCheckouts(billing);
  await renewSubscriptions(billing);
  await retryInvoicePayments(billing);
  await applyScheduledChanges(billing);
  const playbook = await ctx.playbook(billing.db);
  if (!playbook) return;
  await evaluateScheduledPlays(billing.db, playbook, CLOCK_STEPS, at, clock);
  await runDueSteps(
    {
      db: billing.db,
      clock: () => at,
      playbook: ctx.playbook,
      appUrl: ctx.appUrl ?? null,
      emailQueued: ctx.emailQueued,
      testClock: clock,
    },
    at,
  );
}

/**
 * The steps of plays fired during an advance are run by the advance (runDueSteps, at their due
 * instant), never by the job queue, which runs in real time: no job is queued for them.
 */
const CLOCK_STEPS: StepQueue = {
  enqueue: async (_tx, step) => `test_clock:${step.id}`,
  cancel: async () => {},
};

/** The first instant after `from`, and by `to`, at which something of the clock's accounts is due. */
async function nextStop(ctx: AdvanceContext, clock: string, from: Date, to: Date): Promise<Date> {
  const { db } = ctx.billing;
  const within = (column: Column) => and(gt(column, from), lte(column, to));
  const [subs, due] = await Promise.all([
    db
      .select({
        anchor: subscriptions.billingCycleAnchor,
        interval: subscriptions.interval,
        trialEnd: subscriptions.trialEnd,
        cancelAt: subscriptions.cancelAt,
      })
      .from(subscriptions)
      .where(and(ne(subscriptions.status, "canceled"), accountInScope(subscriptions.accountId, clock))),
    db.execute(sql`select min(at) as at from (
        select ${invoices.nextPaymentAttempt} as at from ${invoices}
          where ${and(eq(invoices.status, "open"), within(invoices.nextPaymentAttempt), accountInScope(invoices.accountId, clock))}
        union all
        select ${scheduledChanges.effectiveAt} from ${scheduledChanges}
          where ${and(eq(scheduledChanges.status, "scheduled"), within(scheduledChanges.effectiveAt), accountInScope(scheduledChanges.accountId, clock))}
        union all
        select ${playActions.dueAt} from ${playActions}
          where ${and(eq(playActions.status, "scheduled"), within(playActions.dueAt), accountInScope(playActions.accountId, clock))}
      ) due`),
  ]);
  const stops: number[] = [to.getTime()];
  const first = (due as unknown as { rows: { at: string | Date | null }[] }).rows[0]?.at;
  if (first) stops.push(new Date(first).getTime());
  for (const s of subs) {
    const boundary =
      s.anchor.getTime() > from.getTime()
        ? s.anchor
        : periodAt(s.anchor, s.interval as BillingInterval, from).end;
    stops.push(boundary.getTime());
    for (const end of [s.trialEnd, s.cancelAt])
      if (end && end.getTime() > from.getTime()) stops.push(end.getTime());
  }
  // time-based plays look at whole days: stop at each midnight (UTC) when there are any
  const playbook = await ctx.playbook(db);
  if (playbook && hasTimeBasedPlays(playbook)) stops.push((Math.floor(from.getTime() / DAY_MS) + 1) * DAY_MS);
  return new Date(Math.min(...stops.filter((t) => t > from.getTime())));
}

/**
 * The advances this process runs in the background after a request started them (the request
 * answers `advancing` at once; GET shows `ready` when done). One run per clock at a time; a run
 * that fails lets go of its lease, and the resume job or the next request takes it up again.
 */
export class BackgroundAdvances {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: AdvanceContext,
    private readonly onError: (clock: string, error: unknown) => void,
  ) {}

  start(clock: string): void {
    if (this.running.has(clock)) return;
    const run = advanceTestClock(this.ctx, clock).then(
      () => {},
      (error) => this.onError(clock, error),
    );
    this.running.set(clock, run);
    void run.finally(() => this.running.delete(clock));
  }

  /** Waits for the runs under way (the app closing). */
  async settle(): Promise<void> {
    await Promise.all(this.running.values());
  }
}
