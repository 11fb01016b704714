import type { LedgerPosting } from "./totals.ts";

/**
 * Credit notes: what part of a paid invoice is given back, and how. A credit note names lines of
 * the invoice (whole, some of their units, or an amount of each) or just an amount, which is
 * spread over the lines still creditable in proportion to what each has left. Its outcome is a
 * refund to the card that paid, or credit to the customer's balance (spent by the next invoices).
 *
 * The limits, each checked against every earlier credit note of the invoice:
 * - a line is never credited beyond its amount, nor beyond its quantity in units;
 * - the credit notes of an invoice never add up to more than what was paid for it (its amount paid
 *   by card plus the credit balance it spent, which for a paid invoice is its total);
 * - refunds never add up to more than the card paid (the part paid from the credit balance can
 *   only go back to the balance).
 * Uptier bills no tax, so a credit note carries none. Amounts are integer minor units throughout.
 */

export type CreditNoteOutcome = "refund" | "credit";

/** An invoice line as a credit note sees it, with what earlier credit notes took of it. */
export interface CreditableLine {
  readonly id: string;
  readonly amount: number;
  readonly quantity: number;
  /** Σ amounts earlier credit notes credited on this line */
  readonly creditedAmount: number;
  /** Σ units earlier credit notes credited on this line (by quantity) */
  readonly creditedQuantity: number;
}

export interface CreditableInvoice {
  /** what the customer paid for the invoice: by card, and from the credit balance */
  readonly amountPaid: number;
  readonly creditApplied: number;
  /** Σ earlier credit notes, and the part of it refunded to the card */
  readonly credited: number;
  readonly refunded: number;
  readonly lines: readonly CreditableLine[];
}

/** One line asked for: whole (neither field), some units, or an amount. */
export interface CreditLineRequest {
  readonly line: string;
  readonly quantity?: number;
  readonly amount?: number;
}

export type CreditRequest =
  | { readonly lines: readonly CreditLineRequest[]; readonly amount?: undefined }
  | { readonly amount: number; readonly lines?: undefined };

export interface CreditNoteLine {
  readonly line: string;
  /** units credited, when the line was credited by quantity (or whole); null for an amount */
  readonly quantity: number | null;
  readonly amount: number;
}

export type CreditAllocation =
  | { readonly ok: true; readonly total: number; readonly lines: readonly CreditNoteLine[] }
  | { readonly ok: false; readonly code: CreditRefusal; readonly message: string; readonly param: string };

export type CreditRefusal =
  | "credit_note_empty"
  | "credit_note_exceeds_line"
  | "credit_note_exceeds_paid"
  | "credit_note_exceeds_refundable"
  | "duplicate_credit_note_line"
  | "unknown_invoice_line";

/** What may still be credited on the invoice: what was paid, less every earlier credit note. */
export const creditableRemaining = (invoice: CreditableInvoice): number =>
  invoice.amountPaid + invoice.creditApplied - invoice.credited;

/** What may still be refunded to the card: what the card paid, less earlier refunds. */
export const refundableRemaining = (invoice: CreditableInvoice): number =>
  invoice.amountPaid - invoice.refunded;

/** What is left of a line to credit (a credit line, or a line at 0, has nothing). */
export const lineRemaining = (line: CreditableLine): number => Math.max(0, line.amount - line.creditedAmount);

/**
 * The amount of `units` more units of a line, `credited` units already credited: the cumulative
 * share rounded down, so crediting every unit, in any steps, credits exactly the line's amount,
 * and a line priced per unit credits exactly the unit price per unit.
 */
export function unitsAmount(
  line: Pick<CreditableLine, "amount" | "quantity">,
  credited: number,
  units: number,
) {
  const share = (n: number) => (BigInt(line.amount) * BigInt(n)) / BigInt(line.quantity);
  return Number(share(credited + units) - share(credited));
}

/**
 * Spreads `amount` over what each line has left, in proportion (largest remainder, earlier lines
 * first on ties): the parts add up to `amount` exactly and none exceeds its line's remainder.
 * `amount` must not exceed Σ remaining.
 */
export function spreadOverLines(remaining: readonly number[], amount: number): number[] {
  const total = remaining.reduce((s, r) => s + r, 0);
  if (amount > total) throw new RangeError("amount exceeds what the lines have left");
  if (total === 0) return remaining.map(() => 0);
  const exact = remaining.map((r) => BigInt(r) * BigInt(amount));
  const parts = exact.map((e) => Number(e / BigInt(total)));
  let left = amount - parts.reduce((s, p) => s + p, 0);
  const order = exact
    .map((e, i) => ({ i, rest: e % BigInt(total) }))
    .sort((a, b) => (a.rest === b.rest ? a.i - b.i : a.rest > b.rest ? -1 : 1));
  for (const { i } of order) {
    if (left === 0) break;
    if ((parts[i] as number) < (remaining[i] as number)) {
      parts[i] = (parts[i] as number) + 1;
      left--;
    }
  }
  return parts;
}

const refuse = (code: CreditRefusal, message: string, param: string): CreditAllocation => ({
  ok: false,
  code,
  message,
  param,
});

/** The lines and total of a credit note asked for, or why it cannot be issued. */
export function allocateCredit(
  invoice: CreditableInvoice,
  request: CreditRequest,
  outcome: CreditNoteOutcome,
): CreditAllocation {
  const allocated = request.lines
    ? creditLines(invoice, request.lines)
    : creditAmount(invoice, request.amount);
  if (!allocated.ok) return allocated;
  if (allocated.total <= 0)
    return refuse(
      "credit_note_empty",
      "The credit note credits nothing: there is nothing left to credit.",
      "lines",
    );
  const creditable = creditableRemaining(invoice);
  if (allocated.total > creditable)
    return refuse(
      "credit_note_exceeds_paid",
      `The credit note (${allocated.total}) exceeds what was paid for the invoice less its earlier credit notes (${Math.max(0, creditable)}).`,
      request.lines ? "lines" : "amount",
    );
  const refundable = refundableRemaining(invoice);
  if (outcome === "refund" && allocated.total > refundable)
    return refuse(
      "credit_note_exceeds_refundable",
      `A refund of ${allocated.total} exceeds what the card paid less earlier refunds (${Math.max(0, refundable)}); credit the rest to the balance.`,
      "outcome",
    );
  return allocated;
}

function creditLines(invoice: CreditableInvoice, requested: readonly CreditLineRequest[]): CreditAllocation {
  const byId = new Map(invoice.lines.map((l) => [l.id, l]));
  const seen = new Set<string>();
  const lines: CreditNoteLine[] = [];
  for (const [i, r] of requested.entries()) {
    const param = `lines.${i}`;
    const line = byId.get(r.line);
    if (!line) return refuse("unknown_invoice_line", `The invoice has no line ${r.line}.`, `${param}.line`);
    if (seen.has(r.line))
      return refuse("duplicate_credit_note_line", `Line ${r.line} is named twice.`, `${param}.line`);
    seen.add(r.line);
    const left = lineRemaining(line);
    if (r.amount !== undefined) {
      if (r.amount > left)
        return refuse(
          "credit_note_exceeds_line",
          `Line ${r.line} has ${left} left to credit, less than ${r.amount}.`,
          `${param}.amount`,
        );
      lines.push({ line: line.id, quantity: null, amount: r.amount });
      continue;
    }
    const unitsLeft = Math.max(0, line.quantity - line.creditedQuantity);
    if (r.quantity === undefined) {
      // the whole line: everything it has left, and its units with it
      lines.push({ line: line.id, quantity: line.quantity > 0 ? unitsLeft : null, amount: left });
      continue;
    }
    const units = r.quantity;
    if (units > unitsLeft)
      return refuse(
        "credit_note_exceeds_line",
        `Line ${r.line} has ${unitsLeft} units left to credit, fewer than ${units}.`,
        `${param}.quantity`,
      );
    // a credit line (a proration's negative amount) has nothing to give back, whatever its units
    const amount = line.amount > 0 && line.quantity > 0 ? unitsAmount(line, line.creditedQuantity, units) : 0;
    if (amount > left)
      return refuse(
        "credit_note_exceeds_line",
        `Line ${r.line} has ${left} left to credit, less than ${units} units (${amount}).`,
        `${param}.quantity`,
      );
    lines.push({ line: line.id, quantity: units, amount });
  }
  return {
    ok: true,
    total: lines.reduce((s, l) => s + l.amount, 0),
    lines: lines.filter((l) => l.amount > 0),
  };
}

function creditAmount(invoice: CreditableInvoice, amount: number): CreditAllocation {
  const creditable = creditableRemaining(invoice);
  const remaining = invoice.lines.map(lineRemaining);
  const onLines = remaining.reduce((s, r) => s + r, 0);
  if (amount > creditable || amount > onLines)
    return refuse(
      "credit_note_exceeds_paid",
      `The credit note (${amount}) exceeds what was paid for the invoice less its earlier credit notes (${Math.max(0, Math.min(creditable, onLines))}).`,
      "amount",
    );
  const parts = spreadOverLines(remaining, amount);
  const lines = invoice.lines
    .map((l, i) => ({ line: l.id, quantity: null, amount: parts[i] as number }))
    .filter((l) => l.amount > 0);
  return { ok: true, total: amount, lines };
}

/**
 * The ledger entries of an issued credit note: the revenue taken back (debited), and either the
 * cash refunded or the credit balance we now owe the customer (credited).
 */
export function creditNotePostings(amount: number, outcome: CreditNoteOutcome): LedgerPosting[] {
  if (!Number.isSafeInteger(amount) || amount <= 0)
    throw new RangeError("a credit note's amount must be > 0");
  return [
    { ledgerAccount: "revenue", amount },
    { ledgerAccount: outcome === "refund" ? "cash" : "customer_credit", amount: -amount },
  ];
}
