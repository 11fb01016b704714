import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  creditBalanceOf,
  type InvoiceTotals,
  invoicePostings,
  invoiceTotals,
  type LedgerPosting,
  paymentPostings,
  voidPostings,
} from "./totals.ts";

/** One step of an account's history: an invoice of these lines, or the void of the last one (if unpaid). */
const step = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.integer({ min: -60_000, max: 60_000 }), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant("void" as const) },
);

describe("creditBalanceOf: the credit balance the ledger holds", () => {
  it("reads the customer_credit liability as a positive amount and ignores every other account", () => {
    expect(
      creditBalanceOf([
        { ledgerAccount: "customer_credit", amount: -500 },
        { ledgerAccount: "revenue", amount: 500 },
        { ledgerAccount: "customer_credit", amount: 200 },
        { ledgerAccount: "cash", amount: 1000 },
      ]),
    ).toBe(300);
    expect(creditBalanceOf([])).toBe(0);
  });

  it("equals the balance each invoice's totals carry forward, through invoices, payments and voids", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        const postings: LedgerPosting[] = [];
        let balance = 0;
        let last: InvoiceTotals | null = null;
        for (const s of steps) {
          if (s === "void") {
            // a void gives back the credit spent and takes back the credit carried, when that leaves
            // the balance whole (a carried credit already spent cannot be voided away)
            if (!last || last.creditAdded > balance) continue;
            postings.push(...voidPostings(last));
            balance += last.creditApplied - last.creditAdded;
            last = null;
            continue;
          }
          const totals = invoiceTotals(
            s.map((amount) => ({ amount })),
            balance,
          );
          postings.push(...invoicePostings(totals), ...paymentPostings(totals.amountDue));
          balance = totals.creditBalanceAfter;
          last = totals;
        }
        expect(creditBalanceOf(postings)).toBe(balance);
        expect(creditBalanceOf(postings)).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });
});
