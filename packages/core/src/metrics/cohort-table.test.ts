import { describe, expect, it } from "vitest";
import { rational } from "../pricing/rational.ts";
import { day, WORKED_HISTORY } from "../testing/revenue-histories.ts";
import { cohortTable } from "./cohort-table.ts";
import { percentOf } from "./display.ts";
import { revenueHistory } from "./history.ts";

describe("cohortTable over the worked history (docs/metrics.md)", () => {
  const rows = cohortTable(revenueHistory(WORKED_HISTORY), day("2026-01-01"), day("2026-06-01"));

  it("January's cohort: four customers, revenue and logo retention month by month", () => {
    const january = rows[0];
    expect(january?.cohort).toBe("2026-01");
    expect(january?.customers).toBe(4);
    expect(
      january?.cells.map((c) => [c.month, c.mrr, c.revenueRetention, c.activeCustomers, c.logoRetention]),
    ).toEqual([
      [0, rational(62_600), rational(1), 4, rational(1)],
      [1, rational(62_600), rational(1), 4, rational(1)],
      [2, rational(19_800), rational(19_800, 62_600), 2, rational(1, 2)],
      [3, rational(22_800), rational(22_800, 62_600), 2, rational(1, 2)],
      // acme came back in May on another subscription: the logo returns to its start cohort
      [4, rational(25_700), rational(25_700, 62_600), 3, rational(3, 4)],
    ]);
    expect(january?.cells.map((c) => percentOf(c.revenueRetention ?? rational(0)))).toEqual([
      100, 100, 31.63, 36.42, 41.05,
    ]);
  });

  it("a row for every month up to `until`, each with the months that have ended", () => {
    expect(rows.map((row) => [row.cohort, row.customers, row.cells.length])).toEqual([
      ["2026-01", 4, 5],
      ["2026-02", 0, 4],
      ["2026-03", 0, 3],
      ["2026-04", 0, 2],
      ["2026-05", 0, 1],
    ]);
    expect(rows[1]?.cells[0]).toMatchObject({
      revenueRetention: null,
      logoRetention: null,
      activeCustomers: 0,
    });
    expect(cohortTable(revenueHistory(WORKED_HISTORY), day("2026-01-01"), day("2026-01-31"))).toEqual([]);
  });
});
