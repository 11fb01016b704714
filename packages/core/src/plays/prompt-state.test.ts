import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  eligiblePrompt,
  isExpiredAt,
  PROMPT_STATES,
  type PromptEvent,
  type PromptInstance,
  type PromptState,
  transitionPrompt,
} from "./prompt-state.ts";
import { DAY_MS } from "./time-units.ts";

const t0 = new Date("2026-03-01T09:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);

const fresh = (over: Partial<PromptInstance> = {}): PromptInstance => ({
  id: "prm_1",
  play: "usage-80",
  user: "usr_1",
  cycle: "2026-03-01",
  state: "eligible",
  eligibleAt: t0,
  expiresAt: later(14 * DAY_MS),
  shows: [],
  snoozedUntil: null,
  stateAt: t0,
  ...over,
});

/** Applies events one after another, failing the test on the first refusal. */
function run(events: readonly [PromptEvent, number][], start = fresh()): PromptInstance {
  let instance = start;
  for (const [event, ms] of events) {
    const result = transitionPrompt(instance, event, later(ms));
    if (!result.ok) throw new Error(`${event.type} refused: ${result.code}`);
    instance = result.instance;
  }
  return instance;
}

describe("eligiblePrompt", () => {
  it("starts eligible, never shown, expiring expires_after_days after it fired", () => {
    const p = eligiblePrompt({
      id: "prm_9",
      play: { id: "usage-80", expiresAfterDays: 14 },
      user: "usr_1",
      cycle: "2026-03-01",
      at: t0,
    });
    expect(p).toEqual(fresh({ id: "prm_9" }));
    expect(
      eligiblePrompt({ id: "x", play: { id: "p" }, user: "u", cycle: "c", at: t0 }).expiresAt,
    ).toBeNull();
    expect(() =>
      eligiblePrompt({ id: "x", play: { id: "p", expiresAfterDays: 0 }, user: "u", cycle: "c", at: t0 }),
    ).toThrow(RangeError);
  });

  it("waits a timing variant's delay: eligible and expiring from the delay's end", () => {
    const p = eligiblePrompt({
      id: "prm_9",
      play: { id: "usage-80", expiresAfterDays: 14 },
      user: "usr_1",
      cycle: "2026-03-01",
      at: t0,
      delaySeconds: 86_400,
    });
    expect(p.eligibleAt).toEqual(new Date(t0.getTime() + 86_400_000));
    expect(p.expiresAt).toEqual(new Date(t0.getTime() + 15 * 86_400_000));
  });
});

describe("transitionPrompt", () => {
  it("walks the funnel eligible → shown → clicked → checkout_started → converted", () => {
    const done = run([
      [{ type: "shown" }, 1000],
      [{ type: "clicked" }, 2000],
      [{ type: "checkout_started" }, 3000],
      [{ type: "converted" }, 4000],
    ]);
    expect(done.state).toBe("converted");
    expect(done.stateAt).toEqual(later(4000));
    expect(done.shows).toEqual([later(1000)]);
  });

  it("keeps the furthest stage when a clicked prompt is shown again, and counts the impression", () => {
    const clicked = run([
      [{ type: "shown" }, 0],
      [{ type: "clicked" }, 10],
      [{ type: "shown" }, DAY_MS],
    ]);
    expect(clicked.state).toBe("clicked");
    expect(clicked.shows).toHaveLength(2);
  });

  it("snoozes for 7 days by default and refuses a show before the snooze ends", () => {
    const snoozed = run([
      [{ type: "shown" }, 0],
      [{ type: "snoozed" }, 60_000],
    ]);
    expect(snoozed.snoozedUntil).toEqual(later(60_000 + 7 * DAY_MS));
    const early = transitionPrompt(snoozed, { type: "shown" }, later(60_000 + 7 * DAY_MS - 1));
    expect(early).toMatchObject({ ok: false, code: "prompt_snoozed" });
    const onTime = transitionPrompt(snoozed, { type: "shown" }, later(60_000 + 7 * DAY_MS));
    expect(onTime).toMatchObject({ ok: true, instance: { state: "shown", snoozedUntil: null } });
  });

  it("takes the snooze length from the playbook, or an explicit end", () => {
    const shown = run([[{ type: "shown" }, 0]]);
    const three = transitionPrompt(shown, { type: "snoozed" }, t0, 3);
    expect(three).toMatchObject({ ok: true, instance: { snoozedUntil: later(3 * DAY_MS) } });
    const explicit = transitionPrompt(shown, { type: "snoozed", until: later(3_600_000) }, t0);
    expect(explicit).toMatchObject({ ok: true, instance: { snoozedUntil: later(3_600_000) } });
    expect(transitionPrompt(shown, { type: "snoozed", until: t0 }, t0)).toMatchObject({
      ok: false,
      code: "snooze_not_in_future",
    });
  });

  it("refuses to act on a prompt nobody saw", () => {
    for (const type of ["clicked", "checkout_started", "dismissed", "never_again", "converted"] as const) {
      const event = { type } as PromptEvent;
      expect(transitionPrompt(fresh(), event, t0)).toMatchObject({ ok: false, code: "prompt_not_shown" });
    }
    expect(transitionPrompt(fresh(), { type: "snoozed" }, t0)).toMatchObject({
      ok: false,
      code: "prompt_not_shown",
    });
  });

  it("keeps a closed prompt closed, with the code of what closed it", () => {
    const shown = run([[{ type: "shown" }, 0]]);
    const closed: [PromptEvent, string][] = [
      [{ type: "dismissed" }, "prompt_dismissed"],
      [{ type: "never_again" }, "prompt_never_again"],
      [{ type: "expired" }, "prompt_expired"],
    ];
    for (const [close, code] of closed) {
      const after = run([[close, 10]], shown);
      for (const type of [
        "shown",
        "clicked",
        "checkout_started",
        "dismissed",
        "never_again",
        "expired",
      ] as const)
        expect(transitionPrompt(after, { type } as PromptEvent, later(20))).toMatchObject({
          ok: false,
          code,
        });
    }
  });

  it("records a conversion after a dismissal (the checkout it began completed), never twice", () => {
    const dismissed = run([
      [{ type: "shown" }, 0],
      [{ type: "checkout_started" }, 10],
      [{ type: "dismissed" }, 20],
    ]);
    const converted = transitionPrompt(dismissed, { type: "converted" }, later(30));
    expect(converted).toMatchObject({ ok: true, instance: { state: "converted" } });
    if (!converted.ok) return;
    expect(transitionPrompt(converted.instance, { type: "converted" }, later(40))).toMatchObject({
      ok: false,
      code: "prompt_converted",
    });
  });

  it("expires at its instant without a job having run: nothing but the expiry and a conversion after it", () => {
    const shown = run([[{ type: "shown" }, 0]]);
    const end = later(14 * DAY_MS);
    expect(isExpiredAt(shown, later(14 * DAY_MS - 1))).toBe(false);
    expect(isExpiredAt(shown, end)).toBe(true);
    expect(transitionPrompt(shown, { type: "clicked" }, end)).toMatchObject({
      ok: false,
      code: "prompt_expired",
    });
    expect(transitionPrompt(shown, { type: "expired" }, end)).toMatchObject({
      ok: true,
      instance: { state: "expired" },
    });
    expect(transitionPrompt(shown, { type: "converted" }, end)).toMatchObject({ ok: true });
  });

  it("only ever moves to a state the diagram allows, and refuses with a stable code", () => {
    const allowed: Record<PromptState, readonly PromptState[]> = {
      eligible: ["shown", "expired"],
      shown: [
        "shown",
        "clicked",
        "checkout_started",
        "converted",
        "dismissed",
        "snoozed",
        "never_again",
        "expired",
      ],
      clicked: ["clicked", "checkout_started", "converted", "dismissed", "snoozed", "never_again", "expired"],
      checkout_started: ["checkout_started", "converted", "dismissed", "snoozed", "never_again", "expired"],
      snoozed: ["shown", "converted", "dismissed", "snoozed", "never_again", "expired"],
      dismissed: ["converted"],
      never_again: ["converted"],
      expired: ["converted"],
      converted: [],
    };
    const codes = new Set([
      "prompt_not_shown",
      "prompt_converted",
      "prompt_dismissed",
      "prompt_never_again",
      "prompt_expired",
      "prompt_snoozed",
      "snooze_not_in_future",
    ]);
    const event = fc.constantFrom<PromptEvent>(
      { type: "shown" },
      { type: "clicked" },
      { type: "checkout_started" },
      { type: "converted" },
      { type: "dismissed" },
      { type: "snoozed" },
      { type: "never_again" },
      { type: "expired" },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...PROMPT_STATES),
        fc.boolean(),
        event,
        fc.integer({ min: 0, max: 20 * DAY_MS }),
        (state, seen, e, ms) => {
          const instance = fresh({
            state,
            shows: seen || state !== "eligible" ? [t0] : [],
            snoozedUntil: state === "snoozed" ? later(DAY_MS) : null,
          });
          const result = transitionPrompt(instance, e, later(ms));
          if (result.ok) expect(allowed[state]).toContain(result.instance.state);
          else expect(codes.has(result.code)).toBe(true);
        },
      ),
    );
  });
});
