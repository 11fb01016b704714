import { describe, expect, it } from "vitest";
import { DEFAULT_CADENCE_CAPS, type HoldReason, type PromptCandidate, selectPrompts } from "./cadence.ts";
import { describeHold, type ExplainInput, explainPrompt } from "./explain.ts";
import type { PromptInstance } from "./prompt-state.ts";
import { DAY_MS, HOUR_MS } from "./time-units.ts";

const t0 = new Date("2026-03-02T09:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

const instance = (over: Partial<PromptInstance> = {}): PromptInstance => ({
  id: "prm_1",
  play: "usage-80",
  user: "usr_admin",
  cycle: "2026-03-01",
  state: "eligible",
  eligibleAt: t0,
  expiresAt: at(14 * DAY_MS),
  shows: [],
  snoozedUntil: null,
  stateAt: t0,
  ...over,
});
const candidate: PromptCandidate = { instance: instance(), play: { id: "usage-80", priority: 100 } };

const base: ExplainInput = {
  play: { id: "usage-80" },
  trigger: { fired: true, reason: "api_calls crossed 80% (8,050 of 10,000)", cycle: "2026-03-01" },
  audience: { matched: true, action: "buy" },
  experiment: { arm: "variant", variant: "a" },
  cadence: { candidate, show: true },
};

describe("explainPrompt", () => {
  it("names cadence's 'shown' when every stage lets the prompt through", () => {
    const e = explainPrompt(base);
    expect(e.shown).toBe(true);
    expect(e.decidedBy).toMatchObject({ stage: "cadence", code: "shown", details: { prompt: "prm_1" } });
    expect(e.steps.map((s) => s.code)).toEqual([
      "play_enabled",
      "trigger_fired",
      "audience_matched",
      "experiment_variant",
      "shown",
    ]);
  });

  it("stops at the first stage that says no", () => {
    expect(explainPrompt({ ...base, play: { id: "usage-80", enabled: false } }).decidedBy.code).toBe(
      "play_disabled",
    );
    const notFired = explainPrompt({ ...base, trigger: { fired: false, reason: "api_calls at 42%" } });
    expect(notFired).toMatchObject({
      shown: false,
      decidedBy: { stage: "trigger", code: "trigger_not_fired", message: "api_calls at 42%" },
    });
    expect(notFired.steps).toHaveLength(2);
    const outside = explainPrompt({
      ...base,
      audience: { matched: false, reason: 'the plan "pro" is not one of starter' },
    });
    expect(outside.decidedBy).toMatchObject({ stage: "audience", code: "audience_not_matched" });
    expect(explainPrompt({ ...base, experiment: { arm: "holdout" } }).decidedBy.code).toBe(
      "experiment_holdout",
    );
    expect(explainPrompt({ ...base, cadence: null }).decidedBy.code).toBe("no_prompt");
  });

  it("tells a member they get 'ask your admin', and a play without an experiment passes that stage", () => {
    const e = explainPrompt({ ...base, audience: { matched: true, action: "ask_admin" }, experiment: null });
    expect(e.steps[2]).toMatchObject({ code: "audience_matched", details: { action: "ask_admin" } });
    expect(e.steps[3]).toMatchObject({ code: "no_experiment", passed: true });
  });

  it("reuses cadence's code and instants for a prompt cadence holds", () => {
    const seen = instance({ id: "prm_0", play: "exports-10", state: "shown", shows: [at(-2 * HOUR_MS)] });
    const selection = selectPrompts([candidate], [seen], DEFAULT_CADENCE_CAPS, t0);
    const e = explainPrompt({ ...base, cadence: selection.decisions[0] ?? null });
    expect(e.decidedBy).toEqual({
      stage: "cadence",
      passed: false,
      code: "cap_per_user_per_day",
      message:
        "The cap of 1 prompt per user per day across plays is reached; the next may show at 2026-03-03T07:00:00.000Z.",
      details: { limit: 1, until: "2026-03-03T07:00:00.000Z" },
    });
  });

  it("describes every hold cadence can give", () => {
    const holds: HoldReason[] = [
      { code: "converted", at: t0 },
      { code: "dismissed", at: t0 },
      { code: "never_again", at: t0 },
      { code: "expired", at: t0 },
      { code: "snoozed", until: t0 },
      { code: "dismissed_recently", until: t0 },
      { code: "escalation_not_shown", play: "usage-80" },
      { code: "escalation_converted", play: "usage-80" },
      { code: "shown_recently", until: t0 },
      { code: "cap_per_user_per_day", limit: 2, until: t0 },
      { code: "cap_per_account_per_week", limit: 3, until: null },
      { code: "outranked", by: { prompt: "prm_9", play: "usage-95" } },
    ];
    for (const hold of holds) {
      const { message, details } = describeHold(hold);
      expect(message.length).toBeGreaterThan(10);
      const named = "until" in hold && hold.until ? hold.until : "at" in hold ? hold.at : null;
      if (named) expect(message).toContain(named.toISOString());
      if ("play" in hold) expect(details.play).toBe(hold.play);
      const e = explainPrompt({ ...base, cadence: { candidate, show: false, hold } });
      expect(e.decidedBy.code).toBe(hold.code);
    }
  });
});
