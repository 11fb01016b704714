/**
 * One prompt instance — a play's offer for one user, once per trigger cycle — and the only moves its
 * state may make: eligible → shown → clicked → checkout_started → converted, or dismissed, snoozed
 * (until an instant), never_again, expired (docs/plays.md, "States"). The instant is always
 * a parameter: core reads no clock.
 */
import { DAY_MS } from "./time-units.ts";

export type PromptState =
  | "eligible"
  | "shown"
  | "clicked"
  | "checkout_started"
  | "converted"
  | "dismissed"
  | "snoozed"
  | "never_again"
  | "expired";

export const PROMPT_STATES: readonly PromptState[] = [
  "eligible",
  "shown",
  "clicked",
  "checkout_started",
  "converted",
  "dismissed",
  "snoozed",
  "never_again",
  "expired",
];

/** What happens to a prompt: the SDK's events, the checkout's, and the expiry. */
export type PromptEvent =
  | { readonly type: "shown" }
  | { readonly type: "clicked" }
  | { readonly type: "checkout_started" }
  | { readonly type: "converted" }
  | { readonly type: "dismissed" }
  /** "not now": hidden until `until` (default: the snooze days after the event) */
  | { readonly type: "snoozed"; readonly until?: Date }
  | { readonly type: "never_again" }
  | { readonly type: "expired" };

export type PromptEventType = PromptEvent["type"];

export interface PromptInstance {
  readonly id: string;
  readonly play: string;
  readonly user: string;
  /** the trigger's cycle: an instance is unique per (play, account, user, cycle) */
  readonly cycle: string;
  readonly state: PromptState;
  /** when the trigger made it eligible */
  readonly eligibleAt: Date;
  /** eligibleAt + the play's expires_after_days; null: it never expires */
  readonly expiresAt: Date | null;
  /** its impressions, oldest first (the caps count them; the last week's at least) */
  readonly shows: readonly Date[];
  /** set while snoozed: hidden before this instant, shown again from it */
  readonly snoozedUntil: Date | null;
  /** when it entered its current state */
  readonly stateAt: Date;
}

/** States in which the prompt can still be shown (a snoozed one once its snooze ends). */
export const OPEN_STATES: ReadonlySet<PromptState> = new Set([
  "eligible",
  "shown",
  "clicked",
  "checkout_started",
  "snoozed",
]);

/** Why a move is refused; stable codes the API answers with. */
export type PromptTransitionCode =
  | "prompt_not_shown"
  | "prompt_converted"
  | "prompt_dismissed"
  | "prompt_never_again"
  | "prompt_expired"
  | "prompt_snoozed"
  | "snooze_not_in_future";

export type PromptTransition =
  | { readonly ok: true; readonly instance: PromptInstance }
  | { readonly ok: false; readonly code: PromptTransitionCode; readonly message: string };

/** The snooze a "not now" gets without an explicit end (seed 001: remember a dismissal 7 days). */
export const DEFAULT_SNOOZE_DAYS = 7;

/**
 * A new prompt, eligible from `at`: what a fired trigger creates for (play, user, cycle). Its expiry
 * is fixed now from the play's expires_after_days, so a later playbook edit does not move it.
 */
export function eligiblePrompt(input: {
  readonly id: string;
  readonly play: { readonly id: string; readonly expiresAfterDays?: number | null };
  readonly user: string;
  readonly cycle: string;
  readonly at: Date;
  /** a timing variant's wait: the prompt becomes eligible this long after the trigger fired */
  readonly delaySeconds?: number;
}): PromptInstance {
  const days = input.play.expiresAfterDays ?? null;
  const from = new Date(input.at.getTime() + (input.delaySeconds ?? 0) * 1000);
  if (days !== null && !(Number.isInteger(days) && days > 0))
    throw new RangeError(`expires_after_days must be a whole number of days > 0, got ${days}`);
  return {
    id: input.id,
    play: input.play.id,
    user: input.user,
    cycle: input.cycle,
    state: "eligible",
    eligibleAt: from,
    expiresAt: days === null ? null : new Date(from.getTime() + days * DAY_MS),
    shows: [],
    snoozedUntil: null,
    stateAt: input.at,
  };
}

const refuse = (code: PromptTransitionCode, message: string): PromptTransition => ({
  ok: false,
  code,
  message,
});

/** Whether an open instance has lapsed at `at` (its expiry is an instant; no job need run first). */
export function isExpiredAt(instance: Pick<PromptInstance, "state" | "expiresAt">, at: Date): boolean {
  if (instance.state === "expired") return true;
  return (
    OPEN_STATES.has(instance.state) &&
    instance.expiresAt !== null &&
    at.getTime() >= instance.expiresAt.getTime()
  );
}

/** The furthest funnel stage an impression leaves in place: showing a clicked prompt again keeps "clicked". */
const SHOWN_KEEPS: ReadonlySet<PromptState> = new Set(["shown", "clicked", "checkout_started"]);

/**
 * The state after `event` at `at`, or the stable code refusing it. A conversion is a fact about money
 * (a checkout the prompt led to, completed), so it is recorded from any state once the prompt has
 * been seen — even after a dismissal, a snooze or the expiry — and never twice. Every other move
 * needs an open prompt: a closed one (dismissed, never again, expired, converted) stays closed.
 */
export function transitionPrompt(
  instance: PromptInstance,
  event: PromptEvent,
  at: Date,
  snoozeDays: number = DEFAULT_SNOOZE_DAYS,
): PromptTransition {
  const { state } = instance;
  // An eligible prompt was never on screen, whatever its record says.
  const seen = instance.shows.length > 0 && state !== "eligible";
  const next = (to: PromptState, extra: Partial<PromptInstance> = {}): PromptTransition => ({
    ok: true,
    instance: { ...instance, state: to, stateAt: at, snoozedUntil: null, ...extra },
  });

  if (state === "converted") return refuse("prompt_converted", "The prompt already converted.");
  if (event.type === "converted") {
    if (!seen) return refuse("prompt_not_shown", "A prompt that was never shown cannot convert.");
    return next("converted");
  }
  if (state === "never_again")
    return refuse("prompt_never_again", "The user asked not to see this prompt again.");
  if (state === "dismissed") return refuse("prompt_dismissed", "The prompt was dismissed.");
  if (state === "expired") return refuse("prompt_expired", "The prompt has expired.");
  // The expiry itself is recorded whenever it is noticed, at or after the instant it fell due.
  if (event.type === "expired") return next("expired");
  if (isExpiredAt(instance, at)) return refuse("prompt_expired", "The prompt has expired.");

  switch (event.type) {
    case "shown": {
      if (state === "snoozed" && instance.snoozedUntil && at.getTime() < instance.snoozedUntil.getTime())
        return refuse(
          "prompt_snoozed",
          `The prompt is snoozed until ${instance.snoozedUntil.toISOString()}.`,
        );
      const shows = [...instance.shows, at].sort((a, b) => a.getTime() - b.getTime());
      return next(SHOWN_KEEPS.has(state) ? state : "shown", { shows });
    }
    default:
      break;
  }
  // Everything below answers a prompt the user has in front of them (or had: a snoozed one).
  if (!seen)
    return refuse(
      "prompt_not_shown",
      `A prompt that was never shown cannot be ${event.type.replace("_", " ")}.`,
    );
  switch (event.type) {
    case "clicked":
    case "checkout_started": {
      if (state === "snoozed")
        return refuse("prompt_snoozed", "The prompt is snoozed: it is not on screen to act on.");
      // A click after the checkout began leaves the furthest stage in place.
      const to = state === "checkout_started" ? "checkout_started" : event.type;
      return next(to);
    }
    case "dismissed":
      return next("dismissed");
    case "never_again":
      return next("never_again");
    case "snoozed": {
      const until = event.until ?? new Date(at.getTime() + snoozeDays * DAY_MS);
      if (until.getTime() <= at.getTime())
        return refuse("snooze_not_in_future", "A snooze must end after the instant it is asked.");
      return next("snoozed", { snoozedUntil: until });
    }
  }
}
