import { creditBalanceOf, type LedgerAccount } from "@uptier/core";
import { asc, eq, inArray, sql } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { checkouts, creditNotes, invoicePayments, invoices, ledgerEntries } from "../../db/schema/index.ts";
import { findAccount } from "../accounts/accounts.ts";

/**
 * The ledger as finance reads it, and the invariants that tie it to the invoices and the payments
 * (checked by the tests after every scenario and by the checkout benchmark after its run):
 * - every posting (source) sums to 0, so the whole ledger sums to 0;
 * - revenue = −Σ subtotals of the invoices that count (finalized: open, paid, uncollectible; a
 *   draft has posted nothing yet and a void one is reversed) + Σ issued credit notes;
 * - receivable = Σ (amount due − amount paid) of the open invoices; bad_debt = the same of the
 *   uncollectible ones (written off);
 * - cash = Σ amounts of succeeded checkouts and succeeded invoice payments − Σ issued refund credit
 *   notes = what the gateway collected, net of refunds;
 * - customer_credit = −(credit carried − credit applied + Σ issued credit notes to the balance),
 *   never positive (we owe, never the reverse).
 */
export async function accountLedger(db: Executor, accountId: string) {
  await findAccount(db, accountId);
  const entries = await db
    .select()
    .from(ledgerEntries)
    .where(eq(ledgerEntries.accountId, accountId))
    .orderBy(asc(ledgerEntries.seq));
  const balances: Record<string, Record<string, number>> = {};
  for (const e of entries) {
    const byCurrency = balances[e.currency] ?? {};
    balances[e.currency] = byCurrency;
    byCurrency[e.ledgerAccount] = (byCurrency[e.ledgerAccount] ?? 0) + e.amount;
  }
  return {
    object: "ledger" as const,
    account: accountId,
    balances,
    credit_balance: Object.fromEntries(
      Object.keys(balances).map((c) => [
        c,
        creditBalanceOf(
          entries
            .filter((e) => e.currency === c)
            .map((e) => ({ ledgerAccount: e.ledgerAccount as LedgerAccount, amount: e.amount })),
        ),
      ]),
    ),
    entries: entries.map((e) => ({
      source: e.source,
      invoice: e.invoiceId,
      checkout: e.checkoutId,
      ledger_account: e.ledgerAccount,
      amount: e.amount,
      currency: e.currency,
      created: e.createdAt.toISOString(),
    })),
  };
}

export interface LedgerCheck {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly totals: {
    revenue: number;
    receivable: number;
    cash: number;
    customerCredit: number;
    badDebt: number;
  };
}

/** Reconciles the whole ledger against the invoices and the succeeded checkouts. */
export async function checkLedger(db: Executor): Promise<LedgerCheck> {
  const problems: string[] = [];
  const unbalanced = await db
    .select({ source: ledgerEntries.source, total: sql<string>`sum(${ledgerEntries.amount})` })
    .from(ledgerEntries)
    .groupBy(ledgerEntries.source)
    .having(sql`sum(${ledgerEntries.amount}) <> 0`);
  for (const u of unbalanced) problems.push(`posting ${u.source} sums to ${u.total}`);
  const sum = async (account: string) => {
    const [row] = await db
      .select({ total: sql<string>`coalesce(sum(${ledgerEntries.amount}), 0)` })
      .from(ledgerEntries)
      .where(eq(ledgerEntries.ledgerAccount, account));
    return Number(row?.total ?? 0);
  };
  const totals = {
    revenue: await sum("revenue"),
    receivable: await sum("receivable"),
    cash: await sum("cash"),
    customerCredit: await sum("customer_credit"),
    badDebt: await sum("bad_debt"),
  };
  const [inv] = await db
    .select({
      subtotal: sql<string>`coalesce(sum(${invoices.subtotal}), 0)`,
      open: sql<string>`coalesce(sum(${invoices.amountDue} - ${invoices.amountPaid}) filter (where ${invoices.status} = 'open'), 0)`,
      writtenOff: sql<string>`coalesce(sum(${invoices.amountDue} - ${invoices.amountPaid}) filter (where ${invoices.status} = 'uncollectible'), 0)`,
      paid: sql<string>`coalesce(sum(${invoices.amountPaid}), 0)`,
      carried: sql<string>`coalesce(sum(${invoices.creditAdded} - ${invoices.creditApplied}), 0)`,
    })
    .from(invoices)
    .where(inArray(invoices.status, ["open", "paid", "uncollectible"]));
  const [paid] = await db
    .select({
      total: sql<string>`coalesce(sum(${checkouts.amount}), 0) + (select coalesce(sum(${invoicePayments.amount}), 0)
        from ${invoicePayments} where ${invoicePayments.status} = 'succeeded')`,
    })
    .from(checkouts)
    .where(eq(checkouts.status, "succeeded"));
  const [notes] = await db
    .select({
      total: sql<string>`coalesce(sum(${creditNotes.amount}), 0)`,
      refunded: sql<string>`coalesce(sum(${creditNotes.amount}) filter (where ${creditNotes.outcome} = 'refund'), 0)`,
    })
    .from(creditNotes)
    .where(eq(creditNotes.status, "issued"));
  const credited = Number(notes?.total ?? 0);
  const refunded = Number(notes?.refunded ?? 0);
  if (totals.revenue !== -Number(inv?.subtotal) + credited)
    problems.push(`revenue ${totals.revenue} ≠ −Σ subtotals ${inv?.subtotal} + Σ credit notes ${credited}`);
  if (totals.receivable !== Number(inv?.open))
    problems.push(`receivable ${totals.receivable} ≠ Σ open ${inv?.open}`);
  if (totals.cash !== Number(inv?.paid) - refunded)
    problems.push(`cash ${totals.cash} ≠ Σ invoice payments ${inv?.paid} − Σ refunds ${refunded}`);
  if (totals.cash !== Number(paid?.total) - refunded)
    problems.push(
      `cash ${totals.cash} ≠ Σ succeeded checkouts and invoice payments ${paid?.total} − Σ refunds ${refunded}`,
    );
  if (totals.badDebt !== Number(inv?.writtenOff))
    problems.push(`bad_debt ${totals.badDebt} ≠ Σ written off ${inv?.writtenOff}`);
  if (totals.customerCredit !== -(Number(inv?.carried) + credited - refunded))
    problems.push(
      `customer_credit ${totals.customerCredit} ≠ −(Σ carried credit ${inv?.carried} + Σ credit notes to the balance ${credited - refunded})`,
    );
  if (totals.customerCredit > 0) problems.push(`customer_credit is ${totals.customerCredit} > 0`);
  return { ok: problems.length === 0, problems, totals };
}
