import {
  addRational,
  divideRational,
  RATIONAL_ZERO,
  type Rational,
  signRational,
} from "../pricing/rational.ts";
import { bucketStart, monthStartPlus } from "./buckets.ts";
import { startCohort } from "./customer-attributes.ts";
import { type CustomerHistory, customerMrrBefore, type RevenueHistory } from "./history.ts";

/** Whether month k after `month` has ended by `until`. */
const ends = (month: Date, k: number, until: Date) =>
  monthStartPlus(month, k + 1).getTime() <= until.getTime();

export interface CohortCell {
  /** k: months after the cohort's month (0 is the cohort's own month) */
  readonly month: number;
  /** the cohort's MRR at the end of month k */
  readonly mrr: Rational;
  /** mrr ÷ the cohort's MRR at the end of month 0; null when that is 0 */
  readonly revenueRetention: Rational | null;
  /** cohort customers with MRR at the end of month k */
  readonly activeCustomers: number;
  /** activeCustomers ÷ the cohort's customers; null for a month nobody started in */
  readonly logoRetention: Rational | null;
}

export interface CohortRow {
  /** the month of the customers' first MRR, "2026-03" */
  readonly cohort: string;
  readonly customers: number;
  readonly cells: readonly CohortCell[];
}

/**
 * Revenue and logo retention by start month (docs/metrics.md, "Cohort table"): a row for each month
 * from `from`'s month up to the month before `until`'s, holding the customers whose first MRR fell in
 * it; a cell for each month of the row that ended by `until`.
 */
export function cohortTable(history: RevenueHistory, from: Date, until: Date): CohortRow[] {
  const byCohort = new Map<string, CustomerHistory[]>();
  for (const customer of history.customers) {
    const cohort = startCohort(customer);
    if (cohort === null) continue;
    const list = byCohort.get(cohort);
    if (list) list.push(customer);
    else byCohort.set(cohort, [customer]);
  }
  const rows: CohortRow[] = [];
  for (let month = bucketStart(from, "month"); ends(month, 0, until); month = monthStartPlus(month, 1)) {
    const cohort = month.toISOString().slice(0, 7);
    const customers = byCohort.get(cohort) ?? [];
    const cells: CohortCell[] = [];
    let base: Rational | null = null;
    for (let k = 0; ends(month, k, until); k += 1) {
      const end = monthStartPlus(month, k + 1);
      const mrrs = customers.map((customer) => customerMrrBefore(customer, end).total);
      const mrr = mrrs.reduce<Rational>((sum, x) => addRational(sum, x), RATIONAL_ZERO);
      if (k === 0) base = mrr;
      const activeCustomers = mrrs.filter((x) => signRational(x) > 0).length;
      cells.push({
        month: k,
        mrr,
        revenueRetention: base && signRational(base) > 0 ? divideRational(mrr, base) : null,
        activeCustomers,
        logoRetention: customers.length > 0 ? divideRational(activeCustomers, customers.length) : null,
      });
    }
    rows.push({ cohort, customers: customers.length, cells });
  }
  return rows;
}
