import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MeterDefinition } from "../catalog/document.ts";
import { finalUsage } from "../invoices/renewal.ts";
import { type BillingInterval, periodAt } from "../periods/billing-period.ts";
import { DEFAULT_TIMING, judgeEvent, MAX_EVENT_BYTES } from "./events.ts";
import {
  aggregateEvents,
  type BillingCycle,
  MAX_USAGE_VALUE,
  meterContribution,
  NEVER_RESETS_START,
  numericValue,
  usageWindowAt,
} from "./meters.ts";

const d = (iso: string) => new Date(iso);

describe("usageWindowAt: the period an event belongs to", () => {
  const cycle = { anchor: d("2026-01-31T10:00:00Z"), interval: "month" as const, endsAt: null };

  it("billing_period follows the anchor with month-end clamping, half-open at the boundary", () => {
    expect(usageWindowAt("billing_period", cycle, d("2026-02-15T00:00:00Z"))).toEqual({
      start: d("2026-01-31T10:00:00Z"),
      end: d("2026-02-28T10:00:00Z"),
    });
    // the instant of the rollover belongs to the next period
    expect(usageWindowAt("billing_period", cycle, d("2026-02-28T10:00:00Z")).start).toEqual(
      d("2026-02-28T10:00:00Z"),
    );
    expect(usageWindowAt("billing_period", cycle, d("2026-02-28T09:59:59.999Z")).start).toEqual(
      d("2026-01-31T10:00:00Z"),
    );
    // and returns to the 31st
    expect(usageWindowAt("billing_period", cycle, d("2026-03-15T00:00:00Z")).end).toEqual(
      d("2026-03-31T10:00:00Z"),
    );
  });

  it("calendar_month is the UTC month whatever the anchor; never is one window from the epoch", () => {
    expect(usageWindowAt("calendar_month", cycle, d("2026-02-28T23:59:59Z"))).toEqual({
      start: d("2026-02-01T00:00:00Z"),
      end: d("2026-03-01T00:00:00Z"),
    });
    expect(usageWindowAt("never", cycle, d("2031-05-05T00:00:00Z"))).toEqual({
      start: NEVER_RESETS_START,
      end: null,
    });
  });

  it("a billing_period meter without a subscription falls back to the calendar month", () => {
    expect(usageWindowAt("billing_period", null, d("2026-07-04T00:00:00Z")).start).toEqual(
      d("2026-07-01T00:00:00Z"),
    );
  });

  it("property: every instant lies in its window, and windows tile time without gaps", () => {
    const instant = fc.date({
      min: d("2000-01-01T00:00:00Z"),
      max: d("2090-01-01T00:00:00Z"),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(
        instant,
        instant,
        fc.option(instant),
        fc.constantFrom<BillingInterval>("month", "year"),
        fc.constantFrom("billing_period", "calendar_month"),
        (anchor, at, endsAt, interval, reset) => {
          const cycle = { anchor, interval, endsAt };
          const w = usageWindowAt(reset as "billing_period", cycle, at);
          expect(w.start.getTime()).toBeLessThanOrEqual(at.getTime());
          expect(at.getTime()).toBeLessThan(w.end?.getTime() ?? Number.POSITIVE_INFINITY);
          const next = usageWindowAt(reset as "billing_period", cycle, w.end as Date);
          expect(next.start).toEqual(w.end);
        },
      ),
    );
  });
});

describe("usageWindowAt after the subscription's end", () => {
  const ended = (anchor: string, endsAt: string): BillingCycle => ({
    anchor: d(anchor),
    interval: "month",
    endsAt: d(endsAt),
  });
  const window = (cycle: BillingCycle, iso: string) => {
    const w = usageWindowAt("billing_period", cycle, d(iso));
    return [w.start.toISOString(), w.end?.toISOString()];
  };

  it("anchor on the 1st, canceled at once mid-period: after the end a window of its own begins", () => {
    const cycle = ended("2026-01-01T00:00:00Z", "2026-03-15T12:00:00Z");
    // before the end: the period, cut at the end
    expect(window(cycle, "2026-03-02T00:00:00Z")).toEqual([
      "2026-03-01T00:00:00.000Z",
      "2026-03-15T12:00:00.000Z",
    ]);
    expect(window(cycle, "2026-03-15T11:59:59.999Z")[0]).toBe("2026-03-01T00:00:00.000Z");
    // and the periods before it are untouched
    expect(window(cycle, "2026-02-20T00:00:00Z")).toEqual([
      "2026-02-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ]);
    // at and after the end: the rest of the calendar month, from the end (the calendar month alone
    // would begin on Mar 1, the canceled period's start, and be billed with it)
    expect(window(cycle, "2026-03-15T12:00:00Z")).toEqual([
      "2026-03-15T12:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
    ]);
    expect(window(cycle, "2026-03-31T23:59:59Z")[0]).toBe("2026-03-15T12:00:00.000Z");
    // then calendar months, as for an account that never subscribed
    expect(window(cycle, "2026-04-10T00:00:00Z")).toEqual([
      "2026-04-01T00:00:00.000Z",
      "2026-05-01T00:00:00.000Z",
    ]);
  });

  it("anchor on the 31st: before the end the clamped period (Feb 28 to Mar 31), after it the calendar month from the end", () => {
    const cycle = ended("2026-01-31T00:00:00Z", "2026-03-20T08:00:00Z");
    // a late event from before the end lands in the period the final invoice bills, not in March
    expect(window(cycle, "2026-03-18T00:00:00Z")).toEqual([
      "2026-02-28T00:00:00.000Z",
      "2026-03-20T08:00:00.000Z",
    ]);
    expect(window(cycle, "2026-02-28T00:00:00Z")[0]).toBe("2026-02-28T00:00:00.000Z");
    expect(window(cycle, "2026-02-27T23:59:59Z")).toEqual([
      "2026-01-31T00:00:00.000Z",
      "2026-02-28T00:00:00.000Z",
    ]);
    expect(window(cycle, "2026-03-20T08:00:00Z")).toEqual([
      "2026-03-20T08:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
    ]);
  });

  it("canceled in the last second of a period", () => {
    const cycle = ended("2026-01-01T00:00:00Z", "2026-01-31T23:59:59Z");
    expect(window(cycle, "2026-01-31T23:59:58Z")).toEqual([
      "2026-01-01T00:00:00.000Z",
      "2026-01-31T23:59:59.000Z",
    ]);
    expect(window(cycle, "2026-01-31T23:59:59Z")).toEqual([
      "2026-01-31T23:59:59.000Z",
      "2026-02-01T00:00:00.000Z",
    ]);
    expect(window(cycle, "2026-02-01T00:00:00Z")).toEqual([
      "2026-02-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ]);
  });

  it("canceled in the first second of a period, or exactly at its start (a cancellation at period end)", () => {
    const firstSecond = ended("2026-01-31T00:00:00Z", "2026-02-28T00:00:01Z");
    expect(window(firstSecond, "2026-02-27T23:00:00Z")[0]).toBe("2026-01-31T00:00:00.000Z");
    expect(window(firstSecond, "2026-02-28T00:00:00.500Z")).toEqual([
      "2026-02-28T00:00:00.000Z",
      "2026-02-28T00:00:01.000Z",
    ]);
    expect(window(firstSecond, "2026-02-28T00:00:01Z")).toEqual([
      "2026-02-28T00:00:01.000Z",
      "2026-03-01T00:00:00.000Z",
    ]);
    // ended at a boundary: the last period is whole; from the end the calendar month, cut to begin there
    const atBoundary = ended("2026-01-15T00:00:00Z", "2026-03-15T00:00:00Z");
    expect(window(atBoundary, "2026-03-14T23:59:59.999Z")).toEqual([
      "2026-02-15T00:00:00.000Z",
      "2026-03-15T00:00:00.000Z",
    ]);
    expect(window(atBoundary, "2026-03-15T00:00:00Z")).toEqual([
      "2026-03-15T00:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
    ]);
  });

  it("a scheduled end has the same rule while the subscription still runs (an event sent a little ahead)", () => {
    const live = ended("2026-01-10T00:00:00Z", "2026-02-10T00:00:00Z");
    expect(window(live, "2026-02-10T00:02:00Z")[0]).toBe("2026-02-10T00:00:00.000Z");
    expect(usageWindowAt("calendar_month", live, d("2026-02-10T00:02:00Z")).start).toEqual(
      d("2026-02-01T00:00:00Z"),
    );
    expect(usageWindowAt("never", live, d("2026-02-10T00:02:00Z")).start).toEqual(NEVER_RESETS_START);
  });

  it("property: before the end an event lands in its period; at or after it in no window a period of the subscription starts", () => {
    const instant = (min: string, max: string) => fc.date({ min: d(min), max: d(max), noInvalidDate: true });
    const DAY = 86_400_000;
    fc.assert(
      fc.property(
        instant("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        fc.constantFrom<BillingInterval>("month", "year"),
        fc.integer({ min: 0, max: 3 * 366 * DAY }),
        fc.integer({ min: -2 * 366 * DAY, max: 2 * 366 * DAY }),
        (anchor, interval, life, offset) => {
          const endsAt = new Date(anchor.getTime() + life);
          const event = new Date(endsAt.getTime() + offset);
          const cycle = { anchor, interval, endsAt };
          const w = usageWindowAt("billing_period", cycle, event);
          // every period the subscription lived in: what its renewals and final invoice bill
          const periods = finalUsage({
            anchor,
            interval,
            coveredAt: anchor,
            endedAt: endsAt,
            renewable: false,
          });
          const starts = new Set(periods.due ? periods.periods.map((p) => p.start.getTime()) : []);
          if (event.getTime() < endsAt.getTime()) {
            expect(w.start).toEqual(periodAt(anchor, interval, event).start);
            if (event.getTime() >= anchor.getTime()) expect(starts.has(w.start.getTime())).toBe(true);
          } else {
            expect(w.start.getTime()).toBeGreaterThanOrEqual(endsAt.getTime());
            expect(starts.has(w.start.getTime())).toBe(false);
          }
        },
      ),
    );
  });
});

const meter = (aggregation: MeterDefinition["aggregation"], property?: string): MeterDefinition => ({
  event: "e",
  aggregation,
  reset: "billing_period",
  ...(property ? { property } : {}),
});

describe("meterContribution and aggregateEvents", () => {
  it("count, sum, max and unique_count", () => {
    const events = [
      { event: "e", properties: { n: 3, u: "a" } },
      { event: "e", properties: { n: "4.5", u: "b" } },
      { event: "e", properties: { n: 1, u: "a" } },
      { event: "other", properties: { n: 100, u: "z" } },
    ];
    expect(aggregateEvents("m", meter("count"), events)).toBe(3);
    expect(aggregateEvents("m", meter("sum", "n"), events)).toBe(8.5);
    expect(aggregateEvents("m", meter("max", "n"), events)).toBe(4.5);
    expect(aggregateEvents("m", meter("unique_count", "u"), events)).toBe(2);
  });

  it("rejects what a meter cannot read: non-numeric, negative or missing values", () => {
    for (const bad of [
      { n: "lots" },
      { n: -1 },
      {},
      { n: null },
      { n: Number.NaN },
      { n: { x: 1 } },
      { n: MAX_USAGE_VALUE * 1.0001 },
      { n: "1e308" },
    ]) {
      const c = meterContribution("m", meter("sum", "n"), bad);
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.code).toBe("invalid_property_value");
    }
    expect(meterContribution("m", meter("unique_count", "u"), { u: { a: 1 } }).ok).toBe(false);
    // the value is quoted cut short, never through a surrogate pair: the message is stored as JSON
    const emoji = meterContribution("m", meter("sum", "n"), { n: "😀".repeat(30) });
    expect(!emoji.ok && emoji.message.isWellFormed()).toBe(true);
    expect(numericValue(" 12 ")).toBe(12);
    expect(numericValue("1e3")).toBe(1000);
    expect(numericValue(MAX_USAGE_VALUE)).toBe(1e15);
  });

  it("property: a meter's total does not depend on the order events arrive in", () => {
    const ev = fc.record({
      event: fc.constantFrom("e", "other"),
      properties: fc.record({ n: fc.nat(1000), u: fc.constantFrom("a", "b", "c", "d") }),
    });
    fc.assert(
      fc.property(
        fc.array(ev, { maxLength: 40 }),
        fc.constantFrom("count", "sum", "max", "unique_count"),
        (events, agg) => {
          const m = meter(agg as "sum", agg === "unique_count" ? "u" : "n");
          const reversed = [...events].reverse();
          expect(aggregateEvents("m", m, reversed)).toBe(aggregateEvents("m", m, events));
        },
      ),
    );
  });
});

describe("judgeEvent", () => {
  const now = d("2026-01-16T12:00:00Z");
  const good = { id: "e1", account: "acct_1", event: "api.call", timestamp: "2026-01-16T11:00:00Z" };

  it("accepts a good event and defaults the timestamp to the receipt time", () => {
    expect(judgeEvent(good, now)).toMatchObject({ ok: true, value: { id: "e1", properties: {} } });
    const { timestamp: _t, ...untimed } = good;
    const judged = judgeEvent(untimed, now);
    expect(judged.ok && judged.value.timestamp).toEqual(now);
  });

  it("rejects each kind of bad event with its own code", () => {
    const code = (raw: unknown, bytes?: number) => {
      const j = judgeEvent(raw, now, DEFAULT_TIMING, bytes);
      return j.ok ? "ok" : j.code;
    };
    expect(code({ ...good, id: undefined })).toBe("missing_id");
    expect(code({ ...good, id: "" })).toBe("missing_id");
    expect(code({ ...good, timestamp: "2026-01-09T11:59:59Z" })).toBe("timestamp_too_old");
    expect(code({ ...good, timestamp: "2026-01-09T12:00:01Z" })).toBe("ok"); // within 7 days
    expect(code({ ...good, timestamp: "2027-01-01T00:00:00Z" })).toBe("timestamp_in_future");
    expect(code({ ...good, timestamp: "2026-01-16T12:04:00Z" })).toBe("ok"); // clock skew
    expect(code({ ...good, timestamp: "yesterday" })).toBe("invalid_event");
    expect(code({ ...good, timestamp: "0000-01-01T00:00:00Z" })).toBe("invalid_event");
    expect(code({ ...good, surprise: 1 })).toBe("invalid_event");
    expect(code("a string")).toBe("invalid_event");
    expect(code(good, MAX_EVENT_BYTES + 1)).toBe("event_too_large");
  });
});
