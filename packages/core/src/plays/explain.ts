/**
 * Why a play's prompt shows or not for one user now (GET /v1/prompts/explain): each stage in the
 * order the runtime asks them — the play is on, its trigger fired, the user is in its audience, the
 * account's experiment arm shows it, cadence lets it through — and the first that says no is the
 * rule that decides. Cadence's codes are HoldReason's, unchanged.
 */
import type { HoldReason, PromptDecision } from "./cadence.ts";
import type { ExperimentAssignment } from "./experiments.ts";

export type ExplainStage = "play" | "trigger" | "audience" | "experiment" | "cadence";

export type ExplainCode =
  | "play_enabled"
  | "play_disabled"
  | "trigger_fired"
  | "trigger_not_fired"
  | "audience_matched"
  | "audience_not_matched"
  | "no_experiment"
  | "experiment_variant"
  | "experiment_holdout"
  | "no_prompt"
  | "shown"
  | HoldReason["code"];

export interface ExplainStep {
  readonly stage: ExplainStage;
  readonly passed: boolean;
  readonly code: ExplainCode;
  readonly message: string;
  /** the rule's facts: instants as ISO strings, limits, the play or prompt named */
  readonly details: Readonly<Record<string, string | number>>;
}

export interface PromptExplanation {
  readonly play: string;
  readonly shown: boolean;
  /** the rule that shows or hides the prompt: the first step that did not pass, or the last */
  readonly decidedBy: ExplainStep;
  /** the steps asked, in order, up to the deciding one */
  readonly steps: readonly ExplainStep[];
}

export interface ExplainInput {
  readonly play: { readonly id: string; readonly enabled?: boolean };
  /** the trigger's answer for the account now (the playbook's TriggerResult) */
  readonly trigger: { readonly fired: boolean; readonly reason: string; readonly cycle?: string };
  /** the audience's answer for the user (the playbook's AudienceMatch) */
  readonly audience:
    | { readonly matched: true; readonly action: "buy" | "ask_admin" }
    | { readonly matched: false; readonly reason: string };
  /** null when the play runs no experiment */
  readonly experiment: ExperimentAssignment | null;
  /** cadence's decision on the user's prompt for the play; null when there is no open prompt */
  readonly cadence: PromptDecision | null;
}

const iso = (d: Date) => d.toISOString();
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** A hold in words, with its facts. */
export function describeHold(hold: HoldReason): Pick<ExplainStep, "message" | "details"> {
  switch (hold.code) {
    case "converted":
      return { message: `The prompt converted at ${iso(hold.at)}.`, details: { at: iso(hold.at) } };
    case "dismissed":
      return { message: `The user dismissed the prompt at ${iso(hold.at)}.`, details: { at: iso(hold.at) } };
    case "never_again":
      return {
        message: `The user asked not to see this play again, at ${iso(hold.at)}.`,
        details: { at: iso(hold.at) },
      };
    case "expired":
      return { message: `The prompt expired at ${iso(hold.at)}.`, details: { at: iso(hold.at) } };
    case "snoozed":
      return {
        message: `The user chose "not now": snoozed until ${iso(hold.until)}.`,
        details: { until: iso(hold.until) },
      };
    case "delayed":
      return {
        message: `This arm of the experiment waits: the prompt shows from ${iso(hold.until)}.`,
        details: { until: iso(hold.until) },
      };
    case "dismissed_recently":
      return {
        message: `The user dismissed this play recently; it stays hidden until ${iso(hold.until)}.`,
        details: { until: iso(hold.until) },
      };
    case "escalation_not_shown":
      return {
        message: `This play escalates "${hold.play}", which has not been shown in its latest cycle.`,
        details: { play: hold.play },
      };
    case "escalation_converted":
      return {
        message: `This play escalates "${hold.play}", which converted: there is nothing to escalate.`,
        details: { play: hold.play },
      };
    case "shown_recently":
      return {
        message: `Shown to this user recently; not again before ${iso(hold.until)} (never on every page load).`,
        details: { until: iso(hold.until) },
      };
    case "cap_per_user_per_day":
    case "cap_per_account_per_week": {
      const scope =
        hold.code === "cap_per_user_per_day"
          ? `${plural(hold.limit, "prompt")} per user per day`
          : `${plural(hold.limit, "prompt")} per account per week`;
      const frees = hold.until ? `; the next may show at ${iso(hold.until)}` : "";
      return {
        message: `The cap of ${scope} across plays is reached${frees}.`,
        details: hold.until ? { limit: hold.limit, until: iso(hold.until) } : { limit: hold.limit },
      };
    }
    case "outranked":
      return {
        message: `Another prompt takes the placement: "${hold.by.play}" ranks higher.`,
        details: { play: hold.by.play, prompt: hold.by.prompt },
      };
  }
}

function cadenceStep(decision: PromptDecision | null): ExplainStep {
  if (!decision) return step("cadence", false, "no_prompt", "The user has no open prompt for this play.");
  if (decision.show)
    return step("cadence", true, "shown", "No cadence rule holds it back: the prompt shows now.", {
      prompt: decision.candidate.instance.id,
    });
  const { message, details } = describeHold(decision.hold);
  return step("cadence", false, decision.hold.code, message, details);
}

const step = (
  stage: ExplainStage,
  passed: boolean,
  code: ExplainCode,
  message: string,
  details: ExplainStep["details"] = {},
): ExplainStep => ({ stage, passed, code, message, details });

function playStep(play: ExplainInput["play"]): ExplainStep {
  return play.enabled === false
    ? step("play", false, "play_disabled", "The play is disabled.")
    : step("play", true, "play_enabled", "The play is enabled.");
}

function triggerStep(trigger: ExplainInput["trigger"]): ExplainStep {
  if (!trigger.fired) return step("trigger", false, "trigger_not_fired", trigger.reason);
  return step(
    "trigger",
    true,
    "trigger_fired",
    trigger.reason,
    trigger.cycle ? { cycle: trigger.cycle } : {},
  );
}

function audienceStep(audience: ExplainInput["audience"]): ExplainStep {
  if (!audience.matched) return step("audience", false, "audience_not_matched", audience.reason);
  const action = audience.action === "buy" ? "the buy action" : '"ask your admin"';
  return step(
    "audience",
    true,
    "audience_matched",
    `The user is in the play's audience and gets ${action}.`,
    {
      action: audience.action,
    },
  );
}

function experimentStep(experiment: ExperimentAssignment | null): ExplainStep {
  if (!experiment) return step("experiment", true, "no_experiment", "The play runs no experiment.");
  if (experiment.arm === "holdout")
    return step(
      "experiment",
      false,
      "experiment_holdout",
      "The account is in the experiment's holdout: it sees nothing from this play.",
    );
  return step("experiment", true, "experiment_variant", `The account sees variant "${experiment.variant}".`, {
    variant: experiment.variant,
  });
}

/** The stages in order, stopping at the first that does not pass. */
export function explainPrompt(input: ExplainInput): PromptExplanation {
  const stages = [
    () => playStep(input.play),
    () => triggerStep(input.trigger),
    () => audienceStep(input.audience),
    () => experimentStep(input.experiment),
    () => cadenceStep(input.cadence),
  ];
  const steps: ExplainStep[] = [];
  for (const stage of stages) {
    const next = stage();
    steps.push(next);
    if (!next.passed) return { play: input.play.id, shown: false, decidedBy: next, steps };
  }
  return { play: input.play.id, shown: true, decidedBy: steps[steps.length - 1] as ExplainStep, steps };
}
