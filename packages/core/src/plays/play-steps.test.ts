import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountSignals, at, usage } from "../testing/signals.ts";
import { Play, type PlayInput } from "./document.ts";
import { playSteps, type StepFacts, stepMessage, stepVerdict, triggerHolds } from "./play-steps.ts";
import { PROMPT_STATES, type PromptState } from "./prompt-state.ts";

const play = (over: Partial<PlayInput> = {}) =>
  Play.parse({
    id: "seat-limit",
    name: "Seat limit",
    trigger: { kind: "seat_limit_hit" },
    message: { title: "Seats full", body: "Add one" },
    channels: ["in_app", "email", "webhook"],
    follow_ups: [
      { after: "24h", unless: "answered", channels: ["email"], message: { title: "Waiting", body: "b" } },
      { after: "3d", channels: ["crm_task"], message: { title: "Call them", body: "b" } },
    ],
    ...over,
  });

const fired = at("2026-06-10T12:00:00Z");

describe("playSteps", () => {
  it("sends the play's outbound channels at once, then each follow-up after its delay", () => {
    expect(playSteps(play(), fired)).toEqual([
      { step: 0, dueAt: fired, channels: ["email", "webhook"] },
      { step: 1, dueAt: at("2026-06-11T12:00:00Z"), channels: ["email"] },
      { step: 2, dueAt: at("2026-06-13T12:00:00Z"), channels: ["crm_task"] },
    ]);
  });

  it("has no step 0 for an in-app-only play", () => {
    const steps = playSteps(play({ channels: ["in_app"], follow_ups: [] }), fired);
    expect(steps).toEqual([]);
  });

  it("takes a variant's copy over the play's at step 0, the follow-up's after", () => {
    const p = play({
      experiment: { holdout: 0, variants: [{ id: "short", weight: 1, message: { title: "Full!" } }] },
    });
    expect(stepMessage(p, 0, "short")).toEqual({ title: "Full!", body: "Add one" });
    expect(stepMessage(p, 0, null)).toEqual({ title: "Seats full", body: "Add one" });
    expect(stepMessage(p, 1, "short")?.title).toBe("Waiting");
    expect(stepMessage(p, 3, null)).toBeUndefined();
  });
});

const holds = { holds: true, reason: "still full" };
const facts = (over: Partial<StepFacts> = {}): StepFacts => ({
  play: play(),
  step: 1,
  prompts: ["shown"],
  convertedSince: false,
  condition: holds,
  audience: true,
  ...over,
});

describe("stepVerdict", () => {
  it("acts on a follow-up whose moment is still there and nobody answered", () => {
    expect(stepVerdict(facts())).toEqual({ act: true, reason: "still full" });
  });

  it("cancels every follow-up once the account converted", () => {
    for (const step of [1, 2]) {
      expect(stepVerdict(facts({ step, convertedSince: true }))).toMatchObject({
        act: false,
        status: "canceled",
      });
      expect(stepVerdict(facts({ step, prompts: ["dismissed", "converted"] }))).toMatchObject({
        status: "canceled",
      });
    }
  });

  it("skips `unless: answered` after any answer, `unless: converted` only on conversion", () => {
    for (const state of ["clicked", "dismissed", "snoozed", "never_again", "checkout_started"] as const)
      expect(stepVerdict(facts({ prompts: ["shown", state] }))).toMatchObject({
        act: false,
        status: "skipped",
        reason: "the prompt was answered",
      });
    expect(stepVerdict(facts({ step: 2, prompts: ["dismissed"] })).act).toBe(true);
  });

  it("skips a follow-up whose condition is gone, or with nobody left to tell", () => {
    expect(stepVerdict(facts({ condition: { holds: false, reason: "a seat is free now" } }))).toEqual({
      act: false,
      status: "skipped",
      reason: "its condition is gone: a seat is free now",
    });
    expect(stepVerdict(facts({ audience: false }))).toMatchObject({ act: false, status: "skipped" });
  });

  it("skips anything of a play no longer in force; step 0 acts while it is", () => {
    expect(stepVerdict(facts({ play: undefined }))).toMatchObject({ act: false, status: "skipped" });
    expect(stepVerdict(facts({ play: play({ enabled: false }), step: 0 })).act).toBe(false);
    expect(stepVerdict(facts({ step: 0, prompts: ["dismissed"], convertedSince: true })).act).toBe(true);
    expect(stepVerdict(facts({ step: 9 }))).toMatchObject({ act: false, status: "skipped" });
  });

  it("never acts on a follow-up after a conversion, whatever else holds (property)", () => {
    const state = fc.constantFrom(...(PROMPT_STATES as PromptState[]));
    fc.assert(
      fc.property(
        fc.array(state, { maxLength: 5 }),
        fc.boolean(),
        fc.constantFrom(1, 2),
        (prompts, audience, step) => {
          const verdict = stepVerdict(facts({ step, prompts, audience, convertedSince: true }));
          expect(verdict).toMatchObject({ act: false, status: "canceled" });
        },
      ),
    );
  });
});

describe("triggerHolds", () => {
  const window = "2026-05-31T10:00:00.000Z";
  const ratio = { kind: "usage_ratio", feature: "api_calls", at: 0.8 } as const;

  it("holds a usage ratio while usage stays at or above it in the same window and limit", () => {
    const still = accountSignals({ usage: { api_calls: usage(8500, 8500, 10_000) } });
    expect(triggerHolds(ratio, still, `${window}/limit=10000`).holds).toBe(true);
    const upgraded = accountSignals({ usage: { api_calls: usage(8500, 8500, 100_000) } });
    expect(triggerHolds(ratio, upgraded, `${window}/limit=10000`)).toMatchObject({ holds: false });
    const nextWindow = accountSignals({
      usage: { api_calls: usage(10, 10, 10_000, at("2026-06-30T10:00:00Z")) },
    });
    expect(triggerHolds(ratio, nextWindow, `${window}/limit=10000`).holds).toBe(false);
  });

  it("holds a seat limit only while every seat is taken, in the same cycle", () => {
    const trigger = { kind: "seat_limit_hit" } as const;
    const signals = accountSignals({ invitesRefused: [{ at: at("2026-06-09T09:00:00Z"), seats: 3 }] });
    const cycle = `${window}/seats=3`;
    expect(triggerHolds(trigger, signals, cycle, { quantity: 3, inUse: 3 }).holds).toBe(true);
    expect(triggerHolds(trigger, signals, cycle, { quantity: 4, inUse: 3 })).toEqual({
      holds: false,
      reason: "a seat is free now: 3 of 4 in use",
    });
    expect(triggerHolds(trigger, signals, `${window}/seats=2`).holds).toBe(false);
  });
});
