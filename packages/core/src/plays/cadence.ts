/**
 * Cadence: which of a user's eligible prompts to show at a request, and why each other one waits
 * (seed 001's do's and don'ts: remember a dismissal, never on every page load; seed 004's
 * escalation: the 95% stage only if the 80% stage did not convert). Pure: the instant is a
 * parameter. The rules, in the order they are asked, are in docs/plays.md, "Cadence".
 */
import { DEFAULT_SNOOZE_DAYS, isExpiredAt, type PromptInstance } from "./prompt-state.ts";
import { DAY_MS, HOUR_MS } from "./time-units.ts";

/** What cadence reads of a play (fed from the playbook's play). */
export interface PlayCadence {
  readonly id: string;
  /** higher wins when several are eligible */
  readonly priority: number;
  /** shown only if this play was shown in its latest cycle and did not convert */
  readonly escalates?: string | null;
  /** read when a prompt is created (eligiblePrompt): the prompt carries its own expiry */
  readonly expiresAfterDays?: number | null;
}

/** The playbook's defaults: caps across plays, the snooze, the gap between two shows. */
export interface CadenceCaps {
  readonly perUserPerDay: number;
  readonly perAccountPerWeek: number;
  readonly snoozeDays: number;
  readonly minHoursBetweenShows: number;
}

export const DEFAULT_CADENCE_CAPS: CadenceCaps = {
  perUserPerDay: 1,
  perAccountPerWeek: 3,
  snoozeDays: DEFAULT_SNOOZE_DAYS,
  minHoursBetweenShows: 24,
};

export interface PromptCandidate {
  readonly instance: PromptInstance;
  readonly play: PlayCadence;
}

/** Why a prompt is not shown now; `code` is stable (the explain endpoint names it). */
export type HoldReason =
  | { readonly code: "converted"; readonly at: Date }
  | { readonly code: "dismissed"; readonly at: Date }
  | { readonly code: "never_again"; readonly at: Date }
  | { readonly code: "expired"; readonly at: Date }
  | { readonly code: "snoozed"; readonly until: Date }
  /** made by an experiment arm that waits (a timing variant's `delay`): shown from `until` */
  | { readonly code: "delayed"; readonly until: Date }
  /** the same play was dismissed by this user less than snooze_days ago (another cycle's prompt) */
  | { readonly code: "dismissed_recently"; readonly until: Date }
  /** the play it escalates has not been shown in its latest cycle */
  | { readonly code: "escalation_not_shown"; readonly play: string }
  /** the play it escalates converted in its latest cycle */
  | { readonly code: "escalation_converted"; readonly play: string }
  /** this play was shown to this user less than min_hours_between_shows ago */
  | { readonly code: "shown_recently"; readonly until: Date }
  | { readonly code: "cap_per_user_per_day"; readonly limit: number; readonly until: Date | null }
  | { readonly code: "cap_per_account_per_week"; readonly limit: number; readonly until: Date | null }
  /** a higher-ranked prompt takes the placement */
  | { readonly code: "outranked"; readonly by: { readonly prompt: string; readonly play: string } };

export type HoldCode = HoldReason["code"];

export type PromptDecision =
  | { readonly candidate: PromptCandidate; readonly show: true }
  | { readonly candidate: PromptCandidate; readonly show: false; readonly hold: HoldReason };

export interface PromptSelection {
  /** the one prompt the placement shows now, if any */
  readonly shown: PromptCandidate | null;
  /** one decision per candidate, shown first, then by rank */
  readonly decisions: readonly PromptDecision[];
}

/**
 * Ranks candidates: priority (higher first), then the freshest moment of need (the latest
 * eligibleAt), then play id and prompt id, so the same inputs always give the same order.
 */
export function comparePromptCandidates(a: PromptCandidate, b: PromptCandidate): number {
  if (a.play.priority !== b.play.priority) return b.play.priority - a.play.priority;
  const fresh = b.instance.eligibleAt.getTime() - a.instance.eligibleAt.getTime();
  if (fresh !== 0) return fresh;
  if (a.play.id !== b.play.id) return a.play.id < b.play.id ? -1 : 1;
  return a.instance.id < b.instance.id ? -1 : a.instance.id > b.instance.id ? 1 : 0;
}

const time = (d: Date) => d.getTime();

/**
 * Whether `limit` shows already fall in the window (at − window, at], and if so when the cap frees a
 * slot: the instant the show that must leave for the count to fall under the limit leaves the
 * window (null when it never frees: a limit of 0).
 */
function capUntil(
  shows: readonly number[],
  at: number,
  windowMs: number,
  limit: number,
): Date | null | false {
  const inWindow = shows.filter((s) => s > at - windowMs).sort((a, b) => a - b);
  if (inWindow.length < limit) return false;
  if (limit <= 0) return null;
  const leaving = inWindow[inWindow.length - limit] as number;
  return new Date(leaving + windowMs);
}

/** The caps across plays: the user's shows in the last day, then the account's in the last week. */
function capHold(
  user: string,
  prompts: readonly PromptInstance[],
  caps: CadenceCaps,
  at: Date,
): HoldReason | null {
  const now = time(at);
  const userShows = prompts.filter((p) => p.user === user).flatMap((p) => p.shows.map(time));
  const perUser = capUntil(userShows, now, DAY_MS, caps.perUserPerDay);
  if (perUser !== false) return { code: "cap_per_user_per_day", limit: caps.perUserPerDay, until: perUser };
  const accountShows = prompts.flatMap((p) => p.shows.map(time));
  const perAccount = capUntil(accountShows, now, 7 * DAY_MS, caps.perAccountPerWeek);
  if (perAccount !== false)
    return { code: "cap_per_account_per_week", limit: caps.perAccountPerWeek, until: perAccount };
  return null;
}

/** The latest of some instants, -Infinity for none. */
const latest = (instants: readonly number[]) => instants.reduce((a, b) => Math.max(a, b), -Infinity);

/** The account's prompts by id, a candidate's own record taking precedence over the history's. */
function accountPrompts(candidates: readonly PromptCandidate[], history: readonly PromptInstance[]) {
  const byId = new Map<string, PromptInstance>();
  for (const instance of history) byId.set(instance.id, instance);
  for (const { instance } of candidates) byId.set(instance.id, instance);
  return [...byId.values()];
}

/** The escalated play's standing: its latest cycle (by the latest eligibleAt), across the account's users. */
function escalationHold(play: string, prompts: readonly PromptInstance[]): HoldReason | null {
  let latest: PromptInstance | null = null;
  for (const p of prompts) {
    if (p.play !== play) continue;
    if (!latest || time(p.eligibleAt) > time(latest.eligibleAt)) latest = p;
  }
  if (!latest) return { code: "escalation_not_shown", play };
  const cycle = prompts.filter((p) => p.play === play && p.cycle === latest.cycle);
  if (cycle.some((p) => p.state === "converted")) return { code: "escalation_converted", play };
  if (!cycle.some((p) => p.shows.length > 0)) return { code: "escalation_not_shown", play };
  return null;
}

/** The rules that hold one prompt whatever else is on offer, first that applies wins. */
function ownHold(
  candidate: PromptCandidate,
  prompts: readonly PromptInstance[],
  caps: CadenceCaps,
  at: Date,
): HoldReason | null {
  const { instance, play } = candidate;
  const now = time(at);
  if (instance.state === "converted") return { code: "converted", at: instance.stateAt };
  if (instance.state === "never_again") return { code: "never_again", at: instance.stateAt };
  if (instance.state === "dismissed") return { code: "dismissed", at: instance.stateAt };
  if (isExpiredAt(instance, at))
    return {
      code: "expired",
      at: instance.state === "expired" ? instance.stateAt : (instance.expiresAt as Date),
    };
  if (now < time(instance.eligibleAt)) return { code: "delayed", until: instance.eligibleAt };

  const mine = prompts.filter((p) => p.play === play.id && p.user === instance.user);
  const refused = mine.find((p) => p.state === "never_again");
  if (refused) return { code: "never_again", at: refused.stateAt };
  if (instance.state === "snoozed" && instance.snoozedUntil && now < time(instance.snoozedUntil))
    return { code: "snoozed", until: instance.snoozedUntil };
  const snoozeMs = caps.snoozeDays * DAY_MS;
  const dismissedUntil = latest(
    mine.filter((p) => p.state === "dismissed").map((p) => time(p.stateAt) + snoozeMs),
  );
  if (dismissedUntil > now) return { code: "dismissed_recently", until: new Date(dismissedUntil) };

  if (play.escalates) {
    const hold = escalationHold(play.escalates, prompts);
    if (hold) return hold;
  }

  const lastShown = latest(mine.flatMap((p) => p.shows.map(time)));
  const gapEnds = lastShown + caps.minHoursBetweenShows * HOUR_MS;
  if (gapEnds > now) return { code: "shown_recently", until: new Date(gapEnds) };
  return null;
}

/**
 * What one placement shows to one user now: at most one prompt, the best ranked of those no rule
 * holds, if the caps across plays allow one more show. `candidates` are the user's prompts for the
 * placement; `history` is the account's prompts (every user, every play: the caps, dismissals,
 * "never again" and escalations read it). Every candidate gets a decision naming the rule.
 */
export function selectPrompts(
  candidates: readonly PromptCandidate[],
  history: readonly PromptInstance[],
  caps: CadenceCaps,
  at: Date,
): PromptSelection {
  const users = new Set(candidates.map((c) => c.instance.user));
  if (users.size > 1) throw new RangeError("selectPrompts answers for one user: the candidates name several");
  const prompts = accountPrompts(candidates, history);
  const ranked = [...candidates].sort(comparePromptCandidates);
  const decided = new Map<PromptCandidate, PromptDecision>();
  const ready: PromptCandidate[] = [];
  for (const candidate of ranked) {
    const hold = ownHold(candidate, prompts, caps, at);
    if (hold) decided.set(candidate, { candidate, show: false, hold });
    else ready.push(candidate);
  }
  const best = ready[0] ?? null;
  if (best) {
    const hold = capHold(best.instance.user, prompts, caps, at) ?? {
      code: "outranked",
      by: { prompt: best.instance.id, play: best.play.id },
    };
    for (const candidate of ready) decided.set(candidate, { candidate, show: false, hold });
    if (hold.code === "outranked") decided.set(best, { candidate: best, show: true });
  }
  const decisions = ranked.map((c) => decided.get(c) as PromptDecision);
  const shown = decisions.find((d) => d.show)?.candidate ?? null;
  return {
    shown,
    decisions: shown ? [...decisions.filter((d) => d.show), ...decisions.filter((d) => !d.show)] : decisions,
  };
}
