import {
  type Channel,
  durationSeconds,
  type FollowUp,
  type Message,
  type Play,
  type Trigger,
} from "./document.ts";
import type { PromptState } from "./prompt-state.ts";
import type { AccountSignals } from "./signals.ts";
import { evaluateTrigger } from "./triggers.ts";

/**
 * What a play does beyond its in-app prompts, once per firing (play, account, cycle): step 0 is the
 * play's own email, webhook and CRM-task channels, at once; step n is its n-th follow-up, its delay
 * after the firing. Each step checks again when it is due whether it should still act (stepVerdict).
 * Pure: the instants are parameters.
 */
export interface PlayStep {
  readonly step: number;
  readonly dueAt: Date;
  readonly channels: readonly Channel[];
}

/** The channels a step uses besides the in-app prompt (which the prompt itself is). */
export const OUTBOUND_CHANNELS: ReadonlySet<Channel> = new Set(["email", "webhook", "crm_task"]);

/** The steps of one firing at `firedAt`: step 0 when the play has outbound channels, then its follow-ups. */
export function playSteps(play: Play, firedAt: Date): PlayStep[] {
  const steps: PlayStep[] = [];
  const own = play.channels.filter((c) => OUTBOUND_CHANNELS.has(c));
  if (own.length > 0) steps.push({ step: 0, dueAt: firedAt, channels: own });
  play.follow_ups.forEach((followUp, i) => {
    const delay = durationSeconds(followUp.after) * 1000;
    steps.push({ step: i + 1, dueAt: new Date(firedAt.getTime() + delay), channels: followUp.channels });
  });
  return steps;
}

/** The follow-up a step > 0 stands for (undefined for step 0 or a step the play no longer has). */
export function followUpOf(play: Play, step: number): FollowUp | undefined {
  return step > 0 ? play.follow_ups[step - 1] : undefined;
}

/** The copy of a step: the play's (a variant's over it) at step 0, the follow-up's after. */
export function stepMessage(play: Play, step: number, variant: string | null): Message | undefined {
  if (step === 0) {
    const own = play.experiment?.variants.find((v) => v.id === variant)?.message;
    return { ...play.message, ...own };
  }
  return followUpOf(play, step)?.message;
}

/** Whether a trigger still holds, in the cycle it fired in: a follow-up's condition. */
export interface ConditionCheck {
  readonly holds: boolean;
  readonly reason: string;
}

/**
 * Whether the moment a play fired on is still there at `signals.at`: its trigger still fires in the
 * same cycle. A usage ratio is judged on the reading now (usage still at or above it, in the same
 * window and limit), not on a crossing; a seat limit also needs every seat still taken.
 */
export function triggerHolds(
  trigger: Trigger,
  signals: AccountSignals,
  cycle: string,
  seats?: { readonly quantity: number; readonly inUse: number },
): ConditionCheck {
  let now = signals;
  if (trigger.kind === "usage_ratio" && Object.hasOwn(signals.usage, trigger.feature)) {
    const usage = signals.usage[trigger.feature];
    if (usage) {
      const fromZero = { ...usage, before: { used: 0, limit: usage.after.limit } };
      now = { ...signals, usage: { ...signals.usage, [trigger.feature]: fromZero } };
    }
  }
  const result = evaluateTrigger(trigger, now);
  if (!result.fired) return { holds: false, reason: result.reason };
  if (result.cycle !== cycle)
    return { holds: false, reason: `a new cycle began (${result.cycle}); this one (${cycle}) is over` };
  if (trigger.kind === "seat_limit_hit" && seats && seats.inUse < seats.quantity)
    return { holds: false, reason: `a seat is free now: ${seats.inUse} of ${seats.quantity} in use` };
  return { holds: true, reason: result.reason };
}

/** States that answer a prompt: the user acted on it one way or another. */
const ANSWERED: ReadonlySet<PromptState> = new Set([
  "clicked",
  "checkout_started",
  "converted",
  "dismissed",
  "snoozed",
  "never_again",
]);
const CLICKED: ReadonlySet<PromptState> = new Set(["clicked", "checkout_started", "converted"]);

export type StepVerdict =
  | { readonly act: true; readonly reason: string }
  | { readonly act: false; readonly status: "canceled" | "skipped"; readonly reason: string };

export interface StepFacts {
  /** the play in force now (undefined: removed from the playbook) */
  readonly play: Play | undefined;
  readonly step: number;
  /** the states of the firing's prompts now */
  readonly prompts: readonly PromptState[];
  /** a checkout of the account succeeded after the play fired */
  readonly convertedSince: boolean;
  /** the trigger's condition now (triggerHolds), for follow-ups */
  readonly condition: ConditionCheck;
  /** the firing's audience still holds someone to tell (the audience rules and the members now) */
  readonly audience: boolean;
}

/**
 * Whether a due step acts. Step 0 acts while its play is in force. A follow-up is canceled once the
 * account converts (whatever its `unless`), skipped once the prompts were clicked (`unless: clicked`)
 * or answered in any way (`unless: answered`), and skipped when its moment is gone: the trigger no
 * longer holds in its cycle, or nobody in the audience is left to tell.
 */
export function stepVerdict(facts: StepFacts): StepVerdict {
  const { play, step } = facts;
  if (!play?.enabled) return { act: false, status: "skipped", reason: "the play is no longer in force" };
  if (step === 0) return { act: true, reason: "the play fired" };
  const followUp = followUpOf(play, step);
  if (!followUp) return { act: false, status: "skipped", reason: `the play no longer has follow-up ${step}` };
  if (facts.convertedSince || facts.prompts.includes("converted"))
    return { act: false, status: "canceled", reason: "the account converted" };
  if (followUp.unless === "clicked" && facts.prompts.some((s) => CLICKED.has(s)))
    return { act: false, status: "skipped", reason: "the prompt was clicked" };
  if (followUp.unless === "answered" && facts.prompts.some((s) => ANSWERED.has(s)))
    return { act: false, status: "skipped", reason: "the prompt was answered" };
  if (!facts.condition.holds)
    return { act: false, status: "skipped", reason: `its condition is gone: ${facts.condition.reason}` };
  if (!facts.audience) return { act: false, status: "skipped", reason: "nobody in the audience is left" };
  return { act: true, reason: facts.condition.reason };
}
