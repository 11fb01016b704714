import {
  addRational,
  divideRational,
  RATIONAL_ZERO,
  type Rational,
  signRational,
} from "../pricing/rational.ts";
import { type RevenueHistory, stateInForce } from "./history.ts";
import { subscriptionMrr, sumMrr } from "./mrr.ts";

/** The base at one instant (docs/metrics.md, "Snapshot"). */
export interface RevenueSnapshot {
  readonly at: Date;
  /** headline MRR: committed + usage */
  readonly mrr: Rational;
  readonly committed: Rational;
  readonly usage: Rational;
  /** customers with MRR above zero */
  readonly activeCustomers: number;
  /** average revenue per account: MRR ÷ active customers; null without any */
  readonly arpa: Rational | null;
  /** committed MRR on annual subscriptions ÷ committed MRR; null without any */
  readonly annualMrrShare: Rational | null;
  /** active customers with an annual subscription in force ÷ active customers; null without any */
  readonly annualCustomerShare: Rational | null;
}

/** MRR, ARPA and the annual-plan mix in force at `at` (a change at `at` counts). */
export function revenueSnapshot(history: RevenueHistory, at: Date): RevenueSnapshot {
  const parts = [];
  let annualCommitted = RATIONAL_ZERO;
  let activeCustomers = 0;
  let annualCustomers = 0;
  for (const customer of history.customers) {
    const subscriptions = customer.timelines.map((timeline) => {
      const state = stateInForce(timeline, at);
      return { state, mrr: subscriptionMrr(state) };
    });
    const total = sumMrr(subscriptions.map((s) => s.mrr));
    parts.push(total);
    if (signRational(total.total) <= 0) continue;
    activeCustomers += 1;
    let annual = false;
    for (const { state, mrr } of subscriptions) {
      if (state?.interval !== "year" || signRational(mrr.total) <= 0) continue;
      annual = true;
      annualCommitted = addRational(annualCommitted, mrr.committed);
    }
    if (annual) annualCustomers += 1;
  }
  const mrr = sumMrr(parts);
  return {
    at,
    mrr: mrr.total,
    committed: mrr.committed,
    usage: mrr.usage,
    activeCustomers,
    arpa: activeCustomers > 0 ? divideRational(mrr.total, activeCustomers) : null,
    annualMrrShare: signRational(mrr.committed) > 0 ? divideRational(annualCommitted, mrr.committed) : null,
    annualCustomerShare: activeCustomers > 0 ? divideRational(annualCustomers, activeCustomers) : null,
  };
}
