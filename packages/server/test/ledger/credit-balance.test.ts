import {
  creditBalanceOf,
  type InvoiceTotals,
  invoicePostings,
  invoiceTotals,
  type LedgerPosting,
  paymentPostings,
  voidPostings,
} from "@uptier/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { creditBalance } from "../../src/db/queries/credit-balance.ts";
import { postLedger } from "../../src/services/ledger/post.ts";
import { useTestApi } from "../support/harness.ts";

const api = useTestApi({ catalog: false });

/** One step of an account's history: an invoice of these lines, or the void of the last one. */
const step = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.integer({ min: -60_000, max: 60_000 }), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant("void" as const) },
);

let accounts = 0;

describe("creditBalance (db/queries) is core's creditBalanceOf, on the database", () => {
  it("equals core's rule and the balance each invoice carries forward, after any postings", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 8 }),
        fc.constantFrom("usd", "jpy"),
        async (steps, currency) => {
          accounts += 1;
          const account = (
            await api.request("POST", "/v1/accounts", {
              name: `Credit ${accounts}`,
              external_id: `credit_${accounts}`,
            })
          ).json().id as string;
          const postings: { source: string; entries: LedgerPosting[] }[] = [];
          let balance = 0;
          let last: { source: string; totals: InvoiceTotals } | null = null;
          for (const [i, s] of steps.entries()) {
            if (s === "void") {
              if (!last || last.totals.creditAdded > balance) continue;
              postings.push({ source: `void:${last.source}`, entries: voidPostings(last.totals) });
              balance += last.totals.creditApplied - last.totals.creditAdded;
              last = null;
              continue;
            }
            const totals = invoiceTotals(
              s.map((amount) => ({ amount })),
              balance,
            );
            const source = `inv_${account}_${i}`;
            postings.push({ source: `invoice:${source}`, entries: invoicePostings(totals) });
            postings.push({ source: `payment:${source}`, entries: paymentPostings(totals.amountDue) });
            balance = totals.creditBalanceAfter;
            last = { source, totals };
          }
          const at = api.clock();
          await api.database.db.transaction(async (tx) => {
            for (const p of postings)
              await postLedger(tx, { accountId: account, source: p.source, currency, at }, p.entries);
          });
          const read = await creditBalance(api.database.db, account, currency);
          expect(read).toBe(creditBalanceOf(postings.flatMap((p) => p.entries)));
          expect(read).toBe(balance);
          // another currency's credit is not this one's
          expect(await creditBalance(api.database.db, account, currency === "usd" ? "eur" : "usd")).toBe(0);
          const ledger = (await api.request("GET", `/v1/accounts/${account}/ledger`)).json();
          expect(ledger.credit_balance[currency] ?? 0).toBe(balance);
        },
      ),
      { numRuns: 25 },
    );
  });
});
