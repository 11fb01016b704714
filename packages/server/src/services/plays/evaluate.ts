import {
  durationSeconds,
  eligiblePrompt,
  evaluateTrigger,
  matchAudience,
  type Play,
  type Playbook,
  playArm,
  TIME_BASED_KINDS,
} from "@uptier/core";
import type { DomainEventType } from "@uptier/core/api";
import { and, asc, eq, gt, isNull } from "drizzle-orm";
import type { Db, Executor, Tx } from "../../db/client.ts";
import { accounts, promptInstances } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { recordEvent } from "../events/append.ts";
import type { DurableSubscription } from "../events/durable-subscriber.ts";
import { recordCheckoutOutcome } from "./attribution.ts";
import { offeredChange, offerOf } from "./prompts-offer.ts";
import { type AccountState, loadAccountState, markUsage } from "./signals.ts";
import { type StepQueue, scheduleSteps } from "./steps.ts";

/**
 * Evaluation: which plays fire for an account, and the prompts they make. It runs as the durable
 * subscriber `plays` of the domain-event log (in the transaction that moves its cursor, so a prompt
 * is made once) and, for the kinds that fire with time alone, from a schedule
 * (`evaluateScheduledPlays`). A prompt is unique per (play, account, user, cycle): evaluating twice
 * makes nothing twice.
 */

/** The playbook in force (null: none, and nothing is evaluated), read through the caller's connection or transaction. */
export type PlaybookSource = (db: Executor) => Promise<Playbook | null>;

/** The events after which an account's plays are evaluated: usage, refused checks, members, subscriptions. */
export const EVALUATED_EVENTS: ReadonlySet<DomainEventType> = new Set<DomainEventType>([
  "usage.recorded",
  "usage.gauge_set",
  "entitlement.denied",
  "admin_approval.requested",
  "member.invite_refused",
  "member.invited",
  "member.added",
  "member.updated",
  "member.removed",
  "subscription.created",
  "subscription.updated",
  "subscription.canceled",
  "subscription.cancellation_scheduled",
]);

const TIME_KINDS: ReadonlySet<string> = new Set(TIME_BASED_KINDS);

export function playsSubscription(playbook: PlaybookSource, queue: StepQueue): DurableSubscription {
  return {
    name: "plays",
    from: "now",
    handle: async (events, tx) => {
      const latest = new Map<string, Date>();
      for (const event of events) {
        if (event.type === "checkout.succeeded" || event.type === "checkout.failed") {
          await recordCheckoutOutcome(tx, queue, event);
          continue;
        }
        if (!EVALUATED_EVENTS.has(event.type)) continue;
        const ids =
          event.type === "usage.recorded" ? event.data.accounts : event.account ? [event.account] : [];
        for (const id of ids) {
          const seen = latest.get(id);
          if (!seen || seen.getTime() < event.at.getTime()) latest.set(id, event.at);
        }
      }
      if (latest.size === 0) return;
      const book = await playbook(tx);
      if (!book) return;
      for (const [account, at] of latest) await evaluateAccount(tx, book, queue, account, at, "events");
    },
  };
}

/**
 * Evaluates the plays of one account at `at` and makes the prompts they fire, in `tx`; answers how
 * many prompts were made. "events" asks every kind, after an event; "schedule" asks the time-based
 * kinds only.
 */
export async function evaluateAccount(
  tx: Tx,
  playbook: Playbook,
  queue: StepQueue,
  accountId: string,
  at: Date,
  mode: "events" | "schedule",
): Promise<number> {
  const state = await loadAccountState(tx, accountId, playbook, at, {
    usageBefore: mode === "events" ? "marks" : "same",
  });
  let made = 0;
  for (const play of playbook.plays) {
    if (!play.enabled) continue;
    if (mode === "schedule" && !TIME_KINDS.has(play.trigger.kind)) continue;
    made += await firePlay(tx, play, queue, accountId, state, at);
  }
  if (mode === "events") await markUsage(tx, accountId, state, at);
  return made;
}

async function firePlay(
  tx: Tx,
  play: Play,
  queue: StepQueue,
  accountId: string,
  state: AccountState,
  at: Date,
) {
  const result = evaluateTrigger(play.trigger, state.signals);
  if (!result.fired) return 0;
  const arm = playArm(play, accountId);
  if (arm?.arm === "holdout") return 0;
  const variant = arm?.arm === "variant" ? arm.variant : null;
  // a timing variant waits before its prompt shows and its steps start
  const delay = play.experiment?.variants.find((v) => v.id === variant)?.delay;
  const delaySeconds = delay ? durationSeconds(delay) : 0;
  const change = offeredChange(offerOf(play, variant).change, state.record, state.catalog);
  const facts = usageFacts(play, state);
  const rows = [];
  for (const member of state.members) {
    const audience = matchAudience(play.audience, state.signals, member);
    if (!audience.matched) continue;
    const prompt = eligiblePrompt({
      id: newId("prompt", at),
      play: { id: play.id, expiresAfterDays: play.expires_after_days },
      user: member.user,
      cycle: result.cycle,
      at,
      delaySeconds,
    });
    rows.push({
      id: prompt.id,
      accountId,
      play: play.id,
      userId: member.user,
      cycle: prompt.cycle,
      placement: play.placement,
      action: audience.action,
      state: prompt.state,
      variant,
      facts,
      offeredChange: change,
      eligibleAt: prompt.eligibleAt,
      stateAt: prompt.stateAt,
      expiresAt: prompt.expiresAt,
    });
  }
  if (rows.length === 0) return 0;
  const made = await tx
    .insert(promptInstances)
    .values(rows)
    .onConflictDoNothing()
    .returning({ id: promptInstances.id, user: promptInstances.userId, action: promptInstances.action });
  if (made.length === 0) return 0;
  const firedAt = new Date(at.getTime() + delaySeconds * 1000);
  await scheduleSteps(tx, queue, { play, accountId, cycle: result.cycle, variant, firedAt });
  await recordEvent(tx, {
    type: "play.triggered",
    accountId,
    data: {
      play: play.id,
      cycle: result.cycle,
      reason: result.reason,
      prompts: made.map((m) => ({
        id: m.id,
        user: m.user,
        action: m.action === "ask_admin" ? "ask_admin" : "buy",
        variant,
      })),
    },
    at,
  });
  return made.length;
}

/** The trigger's feature and its usage when it fired: the copy's usage numbers are these. */
function usageFacts(play: Play, state: AccountState): Record<string, unknown> {
  if (play.trigger.kind !== "usage_ratio" && play.trigger.kind !== "limit_reached") return {};
  const reading = state.readings.get(play.trigger.feature);
  return { feature: play.trigger.feature, used: reading?.reading.used ?? null };
}

/** Whether the playbook has a time-based play in force (the scheduler has something to evaluate). */
export const hasTimeBasedPlays = (playbook: Playbook): boolean =>
  playbook.plays.some((p) => p.enabled && TIME_KINDS.has(p.trigger.kind));

/**
 * The time-based plays (tenure, subscription month, before renewal, account age) of every account
 * at `at`, one transaction per account; answers the prompts made. The scheduler calls it; a late
 * run still fires a window it is inside (docs/plays.md, "Trigger kinds").
 */
export async function evaluateScheduledPlays(
  db: Db,
  playbook: Playbook,
  queue: StepQueue,
  at: Date,
  /** the test clock whose accounts to evaluate (its advance); absent, the accounts on none */
  testClock?: string,
): Promise<number> {
  if (!hasTimeBasedPlays(playbook)) return 0;
  let made = 0;
  let after = "";
  for (;;) {
    const page = await db
      .select({ id: accounts.id })
      .from(accounts)
      .where(
        and(
          gt(accounts.id, after),
          testClock === undefined ? isNull(accounts.testClockId) : eq(accounts.testClockId, testClock),
        ),
      )
      .orderBy(asc(accounts.id))
      .limit(500);
    for (const { id } of page)
      made += await db.transaction((tx) => evaluateAccount(tx, playbook, queue, id, at, "schedule"));
    if (page.length < 500) return made;
    after = (page[page.length - 1] as { id: string }).id;
  }
}
