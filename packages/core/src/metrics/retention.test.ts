import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addRational,
  compareRational,
  equalsRational,
  RATIONAL_ZERO,
  rational,
} from "../pricing/rational.ts";
import { day, timelinesArb, WORKED_HISTORY } from "../testing/revenue-histories.ts";
import { customerPlanBefore, customerSegmentBefore, startCohort } from "./customer-attributes.ts";
import { decimalOf, percentOf } from "./display.ts";
import { revenueHistory } from "./history.ts";
import { nrrBand } from "./nrr-bands.ts";
import {
  cohortRetention,
  cohortRetentionBy,
  grossRevenueRetention,
  netRevenueRetention,
  trailingWindow,
} from "./retention.ts";

const parts = (start: number, expansion: number, contraction: number, churn: number) => ({
  start: rational(start),
  expansion: rational(expansion),
  contraction: rational(contraction),
  churn: rational(churn),
});

describe("the seeds' NRR formula (seed 001)", () => {
  it("$100,000 + $15,000 − $3,000 − $5,000 → NRR 107%, GRR 92%", () => {
    const seed = parts(100_000, 15_000, 3000, 5000);
    expect(netRevenueRetention(seed)).toEqual(rational(107, 100));
    expect(grossRevenueRetention(seed)).toEqual(rational(92, 100));
    expect(nrrBand(netRevenueRetention(seed) ?? RATIONAL_ZERO)).toBe("healthy");
  });

  it("$198,000 + $24,000 − $2,000 − $5,000 → $215,000, NRR 108.59% (the seed's 108.5% truncates)", () => {
    const after = parts(198_000, 24_000, 2000, 5000);
    const nrr = netRevenueRetention(after) ?? RATIONAL_ZERO;
    expect(nrr).toEqual(rational(215_000, 198_000));
    expect(percentOf(nrr)).toBe(108.59);
    expect(percentOf(nrr, 1)).toBe(108.6);
    expect(decimalOf(nrr)).toBe(1.09);
    expect(decimalOf(nrr, 4)).toBe(1.0859);
    const before = parts(198_000, 4000, 3000, 11_000);
    expect(percentOf(netRevenueRetention(before) ?? RATIONAL_ZERO)).toBe(94.95);
    expect(percentOf(netRevenueRetention(before) ?? RATIONAL_ZERO, 0)).toBe(95);
    expect(nrrBand(netRevenueRetention(before) ?? RATIONAL_ZERO)).toBe("stable_flat");
  });

  it("no starting MRR has no NRR", () => {
    expect(netRevenueRetention(parts(0, 0, 0, 0))).toBeNull();
    expect(grossRevenueRetention(parts(0, 0, 0, 0))).toBeNull();
  });
});

describe("nrrBand", () => {
  it("puts each bound in the band it opens: < 90, 90–100, 100–110, 110–130, 130+", () => {
    expect(nrrBand(rational(8999, 10_000))).toBe("leaky_bucket");
    expect(nrrBand(rational(90, 100))).toBe("stable_flat");
    expect(nrrBand(rational(9999, 10_000))).toBe("stable_flat");
    expect(nrrBand(rational(1))).toBe("healthy");
    expect(nrrBand(rational(110, 100))).toBe("excellent");
    expect(nrrBand(rational(12_999, 10_000))).toBe("excellent");
    expect(nrrBand(rational(130, 100))).toBe("elite");
    expect(nrrBand(rational(0))).toBe("leaky_bucket");
  });
});

describe("cohortRetention over the worked history (docs/metrics.md)", () => {
  const history = revenueHistory(WORKED_HISTORY);

  it("February to May: $626.00 → $257.00, NRR 41.05%, GRR 36.26%", () => {
    const window = { start: day("2026-02-01"), end: day("2026-06-01") };
    const result = cohortRetention(history, window);
    expect(result).toMatchObject({
      customers: 4,
      retainedCustomers: 3,
      start: rational(62_600),
      expansion: rational(3000),
      contraction: rational(30_000),
      churn: rational(9900),
      end: rational(25_700),
    });
    expect(percentOf(result.nrr ?? RATIONAL_ZERO)).toBe(41.05);
    expect(percentOf(result.grr ?? RATIONAL_ZERO)).toBe(36.26);
  });

  it("March alone (monthly NRR): $626.00 → $198.00, 31.63%", () => {
    const result = cohortRetention(history, { start: day("2026-03-01"), end: day("2026-04-01") });
    expect(result.end).toEqual(rational(19_800));
    expect(percentOf(result.nrr ?? RATIONAL_ZERO)).toBe(31.63);
  });

  it("trailing twelve months to June 2026: nobody was a customer in June 2025, so no NRR", () => {
    const window = trailingWindow(day("2026-06-01"));
    expect(window.start).toEqual(day("2025-06-01"));
    expect(cohortRetention(history, window).nrr).toBeNull();
    expect(trailingWindow(new Date("2026-03-31T00:00:00Z"), 1).start).toEqual(day("2026-02-28"));
  });

  it("by plan, by segment and by start cohort, each read at the window's start", () => {
    const window = { start: day("2026-02-01"), end: day("2026-06-01") };
    const byPlan = cohortRetentionBy(history, window, customerPlanBefore);
    expect([...byPlan.keys()]).toEqual(["business", "team"]);
    expect(byPlan.get("business")).toMatchObject({ start: rational(29_900), end: rational(9900) });
    expect(byPlan.get("team")).toMatchObject({
      start: rational(32_700),
      end: rational(15_800),
      churn: rational(9900),
    });
    const bySegment = cohortRetentionBy(history, window, (c, at) => customerSegmentBefore(c, at, "usd"));
    expect([...bySegment.keys()]).toEqual(["smb"]);
    expect([...cohortRetentionBy(history, window, startCohort).keys()]).toEqual(["2026-01"]);
  });
});

describe("retention properties", () => {
  const windowArb = fc
    .record({ start: fc.integer({ min: 0, max: 80 }), length: fc.integer({ min: 1, max: 60 }) })
    .map(({ start, length }) => ({
      start: new Date(Date.UTC(2026, 0, 1 + start)),
      end: new Date(Date.UTC(2026, 0, 1 + start + length)),
    }));

  it("a cohort with no change in the window retains 100%, net and gross", () => {
    fc.assert(
      fc.property(timelinesArb, (timelines) => {
        // every generated change is before May 2026
        const result = cohortRetention(revenueHistory(timelines), {
          start: day("2026-05-01"),
          end: day("2026-08-01"),
        });
        if (result.customers === 0) return;
        expect(result.nrr).toEqual(rational(1));
        expect(result.grr).toEqual(rational(1));
      }),
    );
  });

  it("end = start + expansion − contraction − churn; GRR ≤ 100% and GRR ≤ NRR; groups partition the cohort", () => {
    fc.assert(
      fc.property(timelinesArb, windowArb, (timelines, window) => {
        const history = revenueHistory(timelines);
        const result = cohortRetention(history, window);
        const formula = addRational(result.start, result.expansion);
        expect(
          equalsRational(addRational(result.end, addRational(result.contraction, result.churn)), formula),
        ).toBe(true);
        if (result.nrr && result.grr) {
          expect(compareRational(result.grr, 1)).toBeLessThanOrEqual(0);
          expect(compareRational(result.grr, result.nrr)).toBeLessThanOrEqual(0);
        }
        const byPlan = [...cohortRetentionBy(history, window, customerPlanBefore).values()];
        expect(byPlan.reduce((sum, g) => addRational(sum, g.start), RATIONAL_ZERO)).toEqual(result.start);
        expect(byPlan.reduce((sum, g) => addRational(sum, g.end), RATIONAL_ZERO)).toEqual(result.end);
      }),
      { numRuns: 150 },
    );
  });
});
