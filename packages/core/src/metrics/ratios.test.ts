import { describe, expect, it } from "vitest";
import { rational } from "../pricing/rational.ts";
import { day, revenueState, seatsAt, WORKED_HISTORY } from "../testing/revenue-histories.ts";
import { bucketsBetween } from "./buckets.ts";
import { revenueHistory } from "./history.ts";
import { movementsByBucket } from "./movements.ts";
import {
  averageExpansion,
  expansionShareOfNewMrr,
  grossMrrChurnRate,
  isNetNegativeChurn,
  logoChurnRate,
  netMrrChurnRate,
  quickRatio,
  revenueChurnRate,
} from "./ratios.ts";
import { revenueSnapshot } from "./snapshot.ts";

describe("ratios over the worked history's months (docs/metrics.md)", () => {
  const history = revenueHistory(WORKED_HISTORY);
  const [jan, , mar, apr] = movementsByBucket(
    history,
    bucketsBetween(day("2026-01-01"), day("2026-06-01"), "month"),
  );

  it("March: nothing gained, $428.00 lost; half the logos churned, 36.42% of MRR", () => {
    if (!mar) throw new Error("no March");
    expect(quickRatio(mar)).toEqual(rational(0));
    expect(logoChurnRate(mar)).toEqual(rational(1, 2));
    expect(revenueChurnRate(mar)).toEqual(rational(22_800, 62_600));
    expect(grossMrrChurnRate(mar)).toEqual(rational(42_800, 62_600));
    expect(netMrrChurnRate(mar)).toEqual(rational(42_800, 62_600));
    expect(isNetNegativeChurn(mar)).toBe(false);
    expect(averageExpansion(mar)).toBeNull();
  });

  it("April: expansion alone, so no quick ratio, net negative churn, all new MRR from expansion", () => {
    if (!apr) throw new Error("no April");
    expect(quickRatio(apr)).toBeNull();
    expect(isNetNegativeChurn(apr)).toBe(true);
    expect(netMrrChurnRate(apr)).toEqual(rational(-3000, 19_800));
    expect(expansionShareOfNewMrr(apr)).toEqual(rational(1));
    expect(averageExpansion(apr)).toEqual(rational(3000));
  });

  it("January: all new, no expansion share, nothing to churn from", () => {
    if (!jan) throw new Error("no January");
    expect(expansionShareOfNewMrr(jan)).toEqual(rational(0));
    expect(logoChurnRate(jan)).toBeNull();
    expect(revenueChurnRate(jan)).toBeNull();
  });

  it("February to May as one bucket nets each customer once: acme's churn and return is a contraction", () => {
    const [window] = movementsByBucket(history, [{ start: day("2026-02-01"), end: day("2026-06-01") }]);
    expect(window?.movements.map((m) => [m.customer, m.kind, m.amount])).toEqual([
      ["acme", "contraction", rational(10_000)],
      ["bolt", "contraction", rational(20_000)],
      ["cask", "churn", rational(9900)],
      ["dune", "expansion", rational(3000)],
    ]);
    if (!window) throw new Error("no window");
    expect(quickRatio(window)).toEqual(rational(3000, 39_900));
  });
});

describe("revenueSnapshot", () => {
  it("MRR, ARPA and the annual-plan mix in force at an instant", () => {
    const snapshot = revenueSnapshot(revenueHistory(WORKED_HISTORY), day("2026-04-10"));
    expect(snapshot).toMatchObject({
      mrr: rational(25_800), // bolt $99 and dune, at 7 seats until Apr 20, $159
      activeCustomers: 2,
      arpa: rational(12_900),
      annualMrrShare: rational(0),
    });
  });

  it("an annual $990 Team and a monthly $99 Team: 5/11 of committed MRR and half the customers annual", () => {
    const history = revenueHistory([
      {
        customer: "a",
        subscription: "s1",
        changes: [{ at: day("2026-01-01"), state: revenueState({ interval: "year", base: 99_000 }) }],
      },
      {
        customer: "b",
        subscription: "s2",
        changes: [{ at: day("2026-01-01"), state: revenueState({ usage: 850, seats: seatsAt(3, 3, 1500) }) }],
      },
    ]);
    const snapshot = revenueSnapshot(history, day("2026-01-01"));
    expect(snapshot.committed).toEqual(rational(18_150));
    expect(snapshot.usage).toEqual(rational(850));
    expect(snapshot.mrr).toEqual(rational(19_000));
    expect(snapshot.arpa).toEqual(rational(9500));
    expect(snapshot.annualMrrShare).toEqual(rational(5, 11));
    expect(snapshot.annualCustomerShare).toEqual(rational(1, 2));
    expect(revenueSnapshot(history, day("2025-12-31")).arpa).toBeNull();
  });
});
