/**
 * Invoice totals and the ledger entries an invoice and its payment write. One function for the quote
 * and the invoice, so "$7.26 due today" on a quote is the invoice's amount due.
 *
 * A customer's credit balance (from credits that exceeded charges) is spent before the card is
 * charged, and a negative subtotal is carried to the balance: Uptier never refunds a credit
 * (docs/rules.md, periods 5, as Stripe's customer balance).
 */
export interface TotalsLine {
  readonly amount: number;
}

export interface InvoiceTotals {
  /** Σ lines, integer minor units; may be negative when credits exceed charges */
  readonly subtotal: number;
  /** taken from the account's credit balance, ≥ 0 */
  readonly creditApplied: number;
  /** charged to the payment method, ≥ 0 */
  readonly amountDue: number;
  /** a negative subtotal carried to the credit balance, ≥ 0 */
  readonly creditAdded: number;
  readonly creditBalanceAfter: number;
}

function assertMinor(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`${what} must be an integer of minor units`);
}

export function invoiceTotals(lines: readonly TotalsLine[], creditBalance: number): InvoiceTotals {
  assertMinor(creditBalance, "creditBalance");
  if (creditBalance < 0) throw new RangeError("creditBalance cannot be negative");
  let subtotal = 0;
  for (const line of lines) {
    assertMinor(line.amount, "line amount");
    subtotal += line.amount;
  }
  assertMinor(subtotal, "subtotal");
  const positive = Math.max(0, subtotal);
  const creditApplied = Math.min(creditBalance, positive);
  const creditAdded = Math.max(0, -subtotal);
  return {
    subtotal,
    creditApplied,
    amountDue: positive - creditApplied,
    creditAdded,
    creditBalanceAfter: creditBalance - creditApplied + creditAdded,
  };
}

/**
 * Ledger accounts, double entry with debits positive: every posting's entries sum to 0.
 * - receivable: what the customer owes (invoice amount due, cleared by payments);
 * - revenue: recognised at invoicing, credited by the subtotal (a credit note debits it);
 * - customer_credit: the credit balance we owe the customer (a liability, so its balance is ≤ 0);
 * - cash: money collected through the gateway;
 * - bad_debt: what was owed and written off (an invoice marked uncollectible), an expense.
 */
export type LedgerAccount = "receivable" | "revenue" | "customer_credit" | "cash" | "bad_debt";

export interface LedgerPosting {
  readonly ledgerAccount: LedgerAccount;
  readonly amount: number;
}

/**
 * The credit balance (≥ 0) that postings leave: customer_credit is a liability, its balance ≤ 0 (we
 * owe the customer), read as the positive amount owed.
 */
export function creditBalanceOf(postings: Iterable<LedgerPosting>): number {
  let liability = 0;
  for (const p of postings) if (p.ledgerAccount === "customer_credit") liability += p.amount;
  return 0 - liability;
}

/** The entries an issued invoice writes. Zero entries are left out. */
export function invoicePostings(totals: InvoiceTotals): LedgerPosting[] {
  const entries: LedgerPosting[] = [
    { ledgerAccount: "revenue", amount: -totals.subtotal },
    { ledgerAccount: "receivable", amount: totals.amountDue },
    { ledgerAccount: "customer_credit", amount: totals.creditApplied - totals.creditAdded },
  ];
  return entries.filter((e) => e.amount !== 0).map((e) => ({ ...e, amount: e.amount + 0 }));
}

/** The entries a payment collected through the gateway writes. */
export function paymentPostings(amount: number): LedgerPosting[] {
  assertMinor(amount, "payment amount");
  if (amount <= 0) return [];
  return [
    { ledgerAccount: "cash", amount },
    { ledgerAccount: "receivable", amount: -amount },
  ];
}

/**
 * The entries that void an open, unpaid invoice: its invoice posting reversed, so the revenue is
 * taken back, the receivable cleared and a credit balance it spent given back.
 */
export function voidPostings(
  totals: Pick<InvoiceTotals, "subtotal" | "amountDue" | "creditApplied" | "creditAdded">,
): LedgerPosting[] {
  return invoicePostings({ ...totals, creditBalanceAfter: 0 }).map((e) => ({ ...e, amount: -e.amount + 0 }));
}

/** The entries that write off what an uncollectible invoice still owes: receivable → bad debt. */
export function writeOffPostings(amountRemaining: number): LedgerPosting[] {
  assertMinor(amountRemaining, "amount remaining");
  if (amountRemaining <= 0) return [];
  return [
    { ledgerAccount: "bad_debt", amount: amountRemaining },
    { ledgerAccount: "receivable", amount: -amountRemaining },
  ];
}

/**
 * The entries that reverse a write-off when an uncollectible invoice is paid after all: bad debt →
 * receivable, so the payment that follows clears the receivable as any other payment does (the
 * invoice ends as if it had been paid on time: cash in, nothing in bad debt).
 */
export function writeOffReversalPostings(amountRemaining: number): LedgerPosting[] {
  return writeOffPostings(amountRemaining).map((e) => ({ ...e, amount: -e.amount }));
}
