import { creditBalanceOf } from "@uptier/core";
import { type SQL, sql } from "drizzle-orm";
import type { Executor } from "../client.ts";

/**
 * The account's customer_credit liability in a currency (Σ its ledger entries, ≤ 0), as numeric
 * text: a scalar subquery for statements that read more than the balance.
 */
export const customerCreditOf = (accountId: SQL | string, currency: SQL | string) =>
  sql<string>`(select coalesce(sum(le.amount), 0)::text from ledger_entries le
    where le.account_id = ${accountId} and le.ledger_account = 'customer_credit' and le.currency = ${currency})`;

/** The credit balance (≥ 0, core's creditBalanceOf) from customerCreditOf's liability. */
export const creditBalanceFrom = (liability: string | number | null | undefined): number =>
  creditBalanceOf([{ ledgerAccount: "customer_credit", amount: Number(liability ?? 0) }]);

/** The account's credit balance in the currency: what the ledger owes the customer (≥ 0). */
export async function creditBalance(db: Executor, accountId: string, currency: string): Promise<number> {
  const result = (await db.execute(
    sql`select ${customerCreditOf(accountId, currency)} as liability`,
  )) as unknown as { rows: { liability: string }[] };
  return creditBalanceFrom(result.rows[0]?.liability);
}
