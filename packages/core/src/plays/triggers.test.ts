import { describe, expect, it } from "vitest";
import { accountSignals, at, subscription, usage } from "../testing/signals.ts";
import type { Trigger } from "./document.ts";
import { evaluateTrigger, TIME_BASED_KINDS } from "./triggers.ts";

/** One snapshot in which every kind below fires. */
const everything = accountSignals({
  at: at("2026-06-25T12:00:00Z"),
  account: { createdAt: at("2026-01-01T00:00:00Z"), properties: {}, segment: "smb" },
  subscription: subscription({
    startedAt: at("2026-03-25T00:00:00Z"),
    planSince: at("2026-03-25T00:00:00Z"),
  }),
  usage: { api_calls: usage(7000, 8500, 10_000) },
  events: [{ name: "api_key.generated", at: at("2026-06-25T11:00:00Z") }],
  denied: [
    { feature: "sso", reason: "feature_not_in_plan", at: at("2026-06-20T00:00:00Z") },
    { feature: "api_calls", reason: "limit_reached", at: at("2026-06-20T00:00:00Z") },
  ],
  invitesRefused: [{ at: at("2026-06-20T00:00:00Z"), seats: 5 }],
});

const triggers: Trigger[] = [
  { kind: "usage_ratio", feature: "api_calls", at: 0.8 },
  { kind: "limit_reached", feature: "api_calls" },
  { kind: "feature_locked", feature: "sso" },
  { kind: "event_count", event: "api_key.generated", count: 1 },
  { kind: "seat_limit_hit" },
  { kind: "plan_tenure", days: 30 },
  { kind: "subscription_month", months: [3], days_before: 0 },
  { kind: "before_renewal", days: 7 },
  { kind: "account_age", from_days: 90, to_days: 180 },
];

describe("evaluateTrigger", () => {
  it.each(triggers.map((t) => [t.kind, t] as const))("dispatches %s", (_, trigger) => {
    expect(evaluateTrigger(trigger, everything)).toMatchObject({ fired: true });
    expect(
      evaluateTrigger(trigger, accountSignals({ at: at("2026-01-02T00:00:00Z"), subscription: null })),
    ).toMatchObject({
      fired: false,
    });
  });

  it("time-based kinds say when to look again; the others do not", () => {
    for (const trigger of triggers) {
      const result = evaluateTrigger(trigger, accountSignals({ at: at("2026-01-02T00:00:00Z") }));
      const timeBased = (TIME_BASED_KINDS as readonly string[]).includes(trigger.kind);
      expect("nextDueAt" in result, trigger.kind).toBe(timeBased);
    }
  });
});
