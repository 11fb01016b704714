import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { day, revenueState } from "../testing/revenue-histories.ts";
import { type BucketSize, bucketCount, bucketStart, bucketsBetween, monthStartPlus } from "./buckets.ts";
import { revenueHistory } from "./history.ts";

describe("buckets", () => {
  it("days are UTC days, weeks start on Monday, months on the 1st", () => {
    const t = new Date("2026-03-04T17:30:00Z"); // a Wednesday
    expect(bucketStart(t, "day")).toEqual(day("2026-03-04"));
    expect(bucketStart(t, "week")).toEqual(day("2026-03-02"));
    expect(bucketStart(day("2026-03-08"), "week")).toEqual(day("2026-03-02")); // Sunday
    expect(bucketStart(t, "month")).toEqual(day("2026-03-01"));
    expect(bucketsBetween(day("2026-01-15"), day("2026-03-01"), "month")).toEqual([
      { start: day("2026-01-01"), end: day("2026-02-01") },
      { start: day("2026-02-01"), end: day("2026-03-01") },
    ]);
    expect(monthStartPlus(new Date("2026-01-31T12:00:00Z"), 1)).toEqual(day("2026-02-01"));
    expect(monthStartPlus(day("2026-01-01"), -12)).toEqual(day("2025-01-01"));
  });

  it("has no bucket for an empty range, even one inside a bucket", () => {
    const at = new Date("2024-01-01T00:00:00.008Z");
    expect(bucketsBetween(at, at, "day")).toEqual([]);
    expect(bucketCount(at, at, "day")).toBe(0);
  });

  it("property: buckets tile [from, to) with no gap, and bucketCount counts them", () => {
    const instant = fc.date({
      min: new Date("2024-01-01T00:00:00Z"),
      max: new Date("2027-01-01T00:00:00Z"),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instant, instant, fc.constantFrom<BucketSize>("day", "week", "month"), (a, b, size) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        const buckets = bucketsBetween(from, to, size);
        expect(buckets.length).toBe(bucketCount(from, to, size));
        if (buckets.length === 0) {
          expect(from.getTime()).toBe(to.getTime());
          return;
        }
        expect(buckets[0]?.start.getTime()).toBeLessThanOrEqual(from.getTime());
        expect(buckets.at(-1)?.end.getTime()).toBeGreaterThanOrEqual(to.getTime());
        for (const [i, bucket] of buckets.entries()) {
          expect(bucketStart(bucket.start, size)).toEqual(bucket.start);
          if (i > 0) expect(bucket.start).toEqual(buckets[i - 1]?.end);
        }
      }),
    );
  });
});

describe("revenueHistory", () => {
  it("refuses changes out of order, a subscription twice and two currencies", () => {
    const change = (iso: string, currency = "usd") => ({ at: day(iso), state: revenueState({ currency }) });
    expect(() =>
      revenueHistory([
        { customer: "a", subscription: "s", changes: [change("2026-02-01"), change("2026-01-01")] },
      ]),
    ).toThrow(/out of order/);
    expect(() =>
      revenueHistory([
        { customer: "a", subscription: "s", changes: [] },
        { customer: "b", subscription: "s", changes: [] },
      ]),
    ).toThrow(/twice/);
    expect(() =>
      revenueHistory([
        { customer: "a", subscription: "s1", changes: [change("2026-01-01")] },
        { customer: "b", subscription: "s2", changes: [change("2026-01-01", "eur")] },
      ]),
    ).toThrow(/cannot be added up/);
  });
});
