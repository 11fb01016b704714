import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addMonthsClamped, periodAt, periodBoundary } from "./billing-period.ts";

const iso = (d: Date) => d.toISOString();

describe("periodBoundary", () => {
  it("clamps an anchor on the 31st to the month's last day and returns to the 31st", () => {
    const anchor = new Date("2024-01-31T10:00:00Z");
    const boundaries = [0, 1, 2, 3, 4].map((k) => iso(periodBoundary(anchor, "month", k)));
    expect(boundaries).toEqual([
      "2024-01-31T10:00:00.000Z",
      "2024-02-29T10:00:00.000Z",
      "2024-03-31T10:00:00.000Z",
      "2024-04-30T10:00:00.000Z",
      "2024-05-31T10:00:00.000Z",
    ]);
    expect(iso(periodBoundary(new Date("2025-01-31T00:00:00Z"), "month", 1))).toBe(
      "2025-02-28T00:00:00.000Z",
    );
  });

  it("brings a Feb 29 annual anchor back to Feb 29 in leap years", () => {
    const anchor = new Date("2024-02-29T12:00:00Z");
    expect([1, 2, 3, 4].map((k) => iso(periodBoundary(anchor, "year", k)))).toEqual([
      "2025-02-28T12:00:00.000Z",
      "2026-02-28T12:00:00.000Z",
      "2027-02-28T12:00:00.000Z",
      "2028-02-29T12:00:00.000Z",
    ]);
  });

  it("counts backwards across year ends", () => {
    expect(iso(addMonthsClamped(new Date("2025-03-31T00:00:00Z"), -1))).toBe("2025-02-28T00:00:00.000Z");
    expect(iso(addMonthsClamped(new Date("2025-01-15T00:00:00Z"), -13))).toBe("2023-12-15T00:00:00.000Z");
  });
});

describe("periodAt", () => {
  it("treats periods as half-open: the end instant belongs to the next period", () => {
    const anchor = new Date("2026-01-31T00:00:00Z");
    const p = periodAt(anchor, "month", new Date("2026-02-28T00:00:00Z"));
    expect(iso(p.start)).toBe("2026-02-28T00:00:00.000Z");
    expect(iso(p.end)).toBe("2026-03-31T00:00:00.000Z");
    const before = periodAt(anchor, "month", new Date("2026-02-27T23:59:59.999Z"));
    expect(iso(before.start)).toBe("2026-01-31T00:00:00.000Z");
  });

  const anchorDay = fc.integer({ min: 28, max: 31 });
  const anchors = fc
    .record({
      year: fc.integer({ min: 1990, max: 2090 }),
      month: fc.integer({ min: 0, max: 11 }),
      day: anchorDay,
      second: fc.integer({ min: 0, max: 86_399 }),
    })
    .map(({ year, month, day, second }) => {
      const d = addMonthsClamped(new Date(Date.UTC(year, month, 1, 0, 0, second)), 0);
      d.setUTCDate(Math.min(day, new Date(Date.UTC(year, month + 1, 0)).getUTCDate()));
      return d;
    });
  const intervals = fc.constantFrom("month" as const, "year" as const);

  it("property: boundaries over 10 years are strictly increasing and contiguous, with no gaps or overlaps", () => {
    fc.assert(
      fc.property(anchors, intervals, (anchor, interval) => {
        const count = interval === "month" ? 120 : 10;
        for (let k = 0; k < count; k++) {
          const start = periodBoundary(anchor, interval, k);
          const end = periodBoundary(anchor, interval, k + 1);
          expect(end.getTime()).toBeGreaterThan(start.getTime());
          const inside = periodAt(anchor, interval, start);
          expect(inside.start.getTime()).toBe(start.getTime());
          expect(inside.end.getTime()).toBe(end.getTime());
          // the last millisecond before the end is still in period k: no gap
          expect(periodAt(anchor, interval, new Date(end.getTime() - 1)).index).toBe(k);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("property: a boundary keeps the anchor's day when the month has it, else the month's last day", () => {
    fc.assert(
      fc.property(anchors, fc.integer({ min: -240, max: 240 }), (anchor, k) => {
        const b = periodBoundary(anchor, "month", k);
        const last = new Date(Date.UTC(b.getUTCFullYear(), b.getUTCMonth() + 1, 0)).getUTCDate();
        expect(b.getUTCDate()).toBe(Math.min(anchor.getUTCDate(), last));
        expect(b.getUTCHours() * 3600 + b.getUTCMinutes() * 60 + b.getUTCSeconds()).toBe(
          anchor.getUTCHours() * 3600 + anchor.getUTCMinutes() * 60 + anchor.getUTCSeconds(),
        );
      }),
    );
  });

  it("property: every instant falls in exactly the period whose bounds contain it", () => {
    fc.assert(
      fc.property(
        anchors,
        intervals,
        fc.date({ min: new Date("1980-01-01Z"), max: new Date("2100-01-01Z"), noInvalidDate: true }),
        (anchor, interval, at) => {
          const p = periodAt(anchor, interval, at);
          expect(p.start.getTime()).toBeLessThanOrEqual(at.getTime());
          expect(at.getTime()).toBeLessThan(p.end.getTime());
          expect(periodBoundary(anchor, interval, p.index).getTime()).toBe(p.start.getTime());
        },
      ),
    );
  });
});
