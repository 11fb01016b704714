import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountSignals, at, subscription, usage } from "../testing/signals.ts";
import { limitReached, usageRatio } from "./trigger-usage.ts";

const ratio = (at: number) => ({ kind: "usage_ratio", feature: "api_calls", at }) as const;
const window = "2026-05-31T10:00:00.000Z";

describe("usage_ratio", () => {
  it("fires when the event at hand crosses the ratio: previous < at ≤ new", () => {
    const result = usageRatio(
      ratio(0.8),
      accountSignals({ usage: { api_calls: usage(7999, 8000, 10_000) } }),
    );
    expect(result).toEqual({
      fired: true,
      cycle: `${window}/limit=10000`,
      reason: "api_calls crossed 80%: 7,999 → 8,000 of 10,000",
    });
  });

  it("does not fire below the ratio, nor when it was already reached before the event", () => {
    expect(
      usageRatio(ratio(0.8), accountSignals({ usage: { api_calls: usage(100, 7999, 10_000) } })),
    ).toMatchObject({
      fired: false,
      reason: "below 80%: 7,999 of 10,000",
    });
    expect(
      usageRatio(ratio(0.8), accountSignals({ usage: { api_calls: usage(8000, 9000, 10_000) } })),
    ).toMatchObject({
      fired: false,
      reason: "already at 80% before this event: 8,000 of 10,000",
    });
  });

  it("compares in whole percent, exactly (0.29 × 100 is not 29 in floating point)", () => {
    const signals = accountSignals({ usage: { api_calls: usage(28, 29, 100) } });
    expect(usageRatio(ratio(0.29), signals).fired).toBe(true);
    const huge = accountSignals({
      usage: { api_calls: usage(949_999_999_999_999, 950_000_000_000_000, 1e15) },
    });
    expect(usageRatio(ratio(0.95), huge).fired).toBe(true);
  });

  it("fires at 100% on reaching the limit itself", () => {
    expect(usageRatio(ratio(1), accountSignals({ usage: { api_calls: usage(999, 1000, 1000) } })).fired).toBe(
      true,
    );
    expect(usageRatio(ratio(1), accountSignals({ usage: { api_calls: usage(998, 999, 1000) } })).fired).toBe(
      false,
    );
  });

  it("does not fire without a reading or without a limit", () => {
    expect(usageRatio(ratio(0.8), accountSignals()).fired).toBe(false);
    expect(usageRatio(ratio(0.8), accountSignals({ usage: { api_calls: usage(1, 1e9, null) } })).fired).toBe(
      false,
    );
  });

  it("keys the cycle by the meter's window and the limit: a new limit is a new cycle", () => {
    const downgraded = {
      before: { used: 900, limit: 10_000 },
      after: { used: 900, limit: 1000 },
      windowStart: at(window),
    };
    expect(usageRatio(ratio(0.8), accountSignals({ usage: { api_calls: downgraded } }))).toMatchObject({
      fired: true,
      cycle: `${window}/limit=1000`,
    });
    const lifetime = accountSignals({ usage: { projects: usage(3, 4, 5, null) } });
    expect(usageRatio({ kind: "usage_ratio", feature: "projects", at: 0.8 }, lifetime)).toMatchObject({
      fired: true,
      cycle: "lifetime/limit=5",
    });
  });

  it("property: counted usage fires once per window, whatever the batches and their order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 100, max: 5000 }),
        (batches, percent, limit) => {
          let used = 0;
          const cycles: string[] = [];
          for (const batch of batches) {
            const signals = accountSignals({ usage: { api_calls: usage(used, used + batch, limit) } });
            const result = usageRatio(ratio(percent / 100), signals);
            if (result.fired) cycles.push(result.cycle);
            used += batch;
          }
          const reaches = used * 100 >= percent * limit;
          expect(cycles).toEqual(reaches ? [`${window}/limit=${limit}`] : []);
        },
      ),
    );
  });

  it("property: a gauge that rises and falls fires in at most one cycle per window and limit", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 2, maxLength: 30 }), (readings) => {
        const cycles = new Set<string>();
        for (let i = 1; i < readings.length; i++) {
          const signals = accountSignals({
            usage: { projects: usage(readings[i - 1] as number, readings[i] as number, 20, null) },
          });
          const result = usageRatio({ kind: "usage_ratio", feature: "projects", at: 0.8 }, signals);
          if (result.fired) cycles.add(result.cycle);
        }
        expect(cycles.size).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe("limit_reached", () => {
  const trigger = { kind: "limit_reached", feature: "api_calls" } as const;
  const denied = (iso: string, reason = "limit_reached", feature = "api_calls") => ({
    feature,
    reason,
    at: at(iso),
  });

  it("fires on a check refused at the limit in the current window", () => {
    const signals = accountSignals({
      usage: { api_calls: usage(11_000, 11_000, 10_000) },
      denied: [denied("2026-06-09T00:00:00Z")],
    });
    expect(limitReached(trigger, signals)).toEqual({
      fired: true,
      cycle: `${window}/limit=10000`,
      reason: "a check of api_calls was refused at its limit at 2026-06-09T00:00:00.000Z",
    });
  });

  it("ignores refusals before the window, before the current plan, after the instant, and for other reasons", () => {
    const base = { usage: { api_calls: usage(0, 0, 10_000) } };
    for (const d of [
      denied("2026-05-30T00:00:00Z"),
      denied("2026-06-11T00:00:00Z"),
      denied("2026-06-09T00:00:00Z", "feature_not_in_plan"),
      denied("2026-06-09T00:00:00Z", "limit_reached", "exports"),
    ])
      expect(limitReached(trigger, accountSignals({ ...base, denied: [d] })).fired).toBe(false);
    const upgraded = accountSignals({
      ...base,
      subscription: subscription({ planSince: at("2026-06-09T12:00:00Z") }),
      denied: [denied("2026-06-09T00:00:00Z")],
    });
    expect(limitReached(trigger, upgraded).fired).toBe(false);
  });
});
