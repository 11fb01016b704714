import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountSignals, at, days, subscription } from "../testing/signals.ts";
import { eventCount, featureLocked, seatLimitHit } from "./trigger-behaviour.ts";

const period = "2026-05-31T10:00:00.000Z";

describe("feature_locked", () => {
  const trigger = { kind: "feature_locked", feature: "sso" } as const;
  const attempt = (iso: string, reason = "feature_not_in_plan", feature = "sso") => ({
    feature,
    reason,
    at: at(iso),
  });

  it("fires on an attempt at a feature the plan lacks, once per billing period", () => {
    const result = featureLocked(trigger, accountSignals({ denied: [attempt("2026-06-01T00:00:00Z")] }));
    expect(result).toMatchObject({ fired: true, cycle: period });
  });

  it("ignores attempts of the last period, at other features, and refusals at a limit", () => {
    for (const d of [
      attempt("2026-05-30T00:00:00Z"),
      attempt("2026-06-01T00:00:00Z", "feature_not_in_plan", "audit_log"),
      attempt("2026-06-01T00:00:00Z", "limit_reached"),
    ])
      expect(featureLocked(trigger, accountSignals({ denied: [d] })).fired).toBe(false);
  });

  it("starts a new cycle with a plan change; without a subscription the month from the account's creation", () => {
    const changed = accountSignals({
      subscription: subscription({ planSince: at("2026-06-05T00:00:00Z") }),
      denied: [attempt("2026-06-06T00:00:00Z")],
    });
    expect(featureLocked(trigger, changed)).toMatchObject({ fired: true, cycle: "2026-06-05T00:00:00.000Z" });
    const free = accountSignals({ subscription: null, denied: [attempt("2026-06-06T00:00:00Z")] });
    // created Jan 20 09:00: its months run from the 20th
    expect(featureLocked(trigger, free)).toMatchObject({ fired: true, cycle: "2026-05-20T09:00:00.000Z" });
  });
});

describe("seat_limit_hit", () => {
  const trigger = { kind: "seat_limit_hit" } as const;

  it("fires on an invite refused for lack of seats this period, keyed by the seats held", () => {
    const signals = accountSignals({ invitesRefused: [{ at: at("2026-06-10T11:59:00Z"), seats: 5 }] });
    expect(seatLimitHit(trigger, signals)).toEqual({
      fired: true,
      cycle: `${period}/seats=5`,
      reason: "an invite was refused at 5 seats at 2026-06-10T11:59:00.000Z",
    });
  });

  it("fires again after a seat was bought and filled, not for last period's refusal", () => {
    const again = accountSignals({
      invitesRefused: [
        { at: at("2026-06-01T00:00:00Z"), seats: 5 },
        { at: at("2026-06-08T00:00:00Z"), seats: 6 },
      ],
    });
    expect(seatLimitHit(trigger, again)).toMatchObject({ fired: true, cycle: `${period}/seats=6` });
    const old = accountSignals({ invitesRefused: [{ at: at("2026-05-01T00:00:00Z"), seats: 5 }] });
    expect(seatLimitHit(trigger, old).fired).toBe(false);
  });
});

describe("event_count", () => {
  const named = (name: string, ...isos: string[]) => isos.map((iso) => ({ name, at: at(iso) }));

  it("without a window: fires once the count is reached, in the one lifetime cycle", () => {
    const exports = { kind: "event_count", event: "export.created", count: 10 } as const;
    const nine = named(
      "export.created",
      ...Array.from({ length: 9 }, (_, i) => `2026-06-0${i + 1}T00:00:00Z`),
    );
    expect(eventCount(exports, accountSignals({ events: nine }))).toMatchObject({
      fired: false,
      reason: "9 of 10 export.created events",
    });
    const ten = [...nine, ...named("export.created", "2026-06-10T00:00:00Z")];
    expect(eventCount(exports, accountSignals({ events: ten }))).toMatchObject({
      fired: true,
      cycle: "lifetime",
    });
    // events of other names and after the instant at hand do not count
    const others = [
      ...nine,
      ...named("report.viewed", "2026-06-10T00:00:00Z"),
      ...named("export.created", "2026-06-11T00:00:00Z"),
    ];
    expect(eventCount(exports, accountSignals({ events: others })).fired).toBe(false);
  });

  it("once: an API key generated", () => {
    const key = { kind: "event_count", event: "api_key.generated", count: 1 } as const;
    expect(
      eventCount(key, accountSignals({ events: named("api_key.generated", "2026-06-10T11:00:00Z") })).fired,
    ).toBe(true);
    expect(eventCount(key, accountSignals()).fired).toBe(false);
  });

  describe("in a sliding window: 3+ invites in 7 days", () => {
    const invites = { kind: "event_count", event: "member.invited", count: 3, within_days: 7 } as const;
    const burst = named(
      "member.invited",
      "2026-06-01T00:00:00Z",
      "2026-06-03T00:00:00Z",
      "2026-06-05T00:00:00Z",
    );

    it("fires from the event that makes the third, keyed by its instant, while it is in the window", () => {
      expect(
        eventCount(invites, accountSignals({ at: at("2026-06-05T00:00:00Z"), events: burst })),
      ).toMatchObject({
        fired: true,
        cycle: "2026-06-05T00:00:00.000Z",
      });
      const fourth = [...burst, ...named("member.invited", "2026-06-06T00:00:00Z")];
      expect(
        eventCount(invites, accountSignals({ at: at("2026-06-06T00:00:00Z"), events: fourth })),
      ).toMatchObject({
        cycle: "2026-06-05T00:00:00.000Z",
      });
      expect(
        eventCount(invites, accountSignals({ at: at("2026-06-12T00:00:00Z"), events: burst })).fired,
      ).toBe(false);
    });

    it("does not fire for three spread over more than 7 days; a later burst is a new cycle", () => {
      const spread = named(
        "member.invited",
        "2026-06-01T00:00:00Z",
        "2026-06-05T00:00:00Z",
        "2026-06-08T00:00:00Z",
      );
      expect(
        eventCount(invites, accountSignals({ at: at("2026-06-08T00:00:00Z"), events: spread })).fired,
      ).toBe(false);
      const later = [
        ...burst,
        ...named("member.invited", "2026-07-01T00:00:00Z", "2026-07-01T01:00:00Z", "2026-07-02T00:00:00Z"),
      ];
      expect(
        eventCount(invites, accountSignals({ at: at("2026-07-02T00:00:00Z"), events: later })),
      ).toMatchObject({
        cycle: "2026-07-02T00:00:00.000Z",
      });
    });

    it("counts events at one instant together", () => {
      const batch = named(
        "member.invited",
        "2026-06-01T00:00:00Z",
        "2026-06-04T00:00:00Z",
        "2026-06-04T00:00:00Z",
        "2026-06-04T00:00:00Z",
      );
      expect(
        eventCount(invites, accountSignals({ at: at("2026-06-04T00:00:00Z"), events: batch })),
      ).toMatchObject({
        cycle: "2026-06-04T00:00:00.000Z",
      });
    });
  });

  it("property: agrees with the definition, whatever the order the events are listed in", () => {
    const origin = at("2026-01-01T00:00:00Z").getTime();
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 25 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 0, max: 1000 }),
        (dayOffsets, n, windowDays, nowDay, seed) => {
          const times = dayOffsets.map((d) => origin + days(d));
          const now = origin + days(nowDay);
          const window = days(windowDays);
          // The definition, naively: an instant t of an event starts an episode when the window
          // (t − window, t] holds at least n events and fewer than n before t.
          const inWindow = (t: number, strict: boolean) =>
            times.filter((u) => u > t - window && (strict ? u < t : u <= t)).length;
          const starts = times.filter((t) => t <= now && inWindow(t, false) >= n && inWindow(t, true) < n);
          const last = starts.length > 0 ? Math.max(...starts) : undefined;
          const expected =
            last !== undefined && now - last < window ? new Date(last).toISOString() : undefined;
          // list the events in a shuffled order
          const shuffled = times
            .map((t, i) => ({ t, k: (i * 7919 + seed) % 1009 }))
            .sort((a, b) => a.k - b.k)
            .map(({ t }) => ({ name: "x", at: new Date(t) }));
          const result = eventCount(
            { kind: "event_count", event: "x", count: n, within_days: windowDays },
            accountSignals({ at: new Date(now), events: shuffled }),
          );
          expect(result.fired ? result.cycle : undefined).toBe(expected);
        },
      ),
    );
  });
});
