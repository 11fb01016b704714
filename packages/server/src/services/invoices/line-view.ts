/**
 * An invoice line as the API shows it and as it is written to invoice_lines: snake_case, instants
 * in ISO 8601. One function for a line just priced (core's QuoteLine, on a quote or a checkout's
 * invoice) and a line read back from invoice_lines, so a quote's lines and its invoice's lines are
 * the same fields with the same values — the checkout compares a re-priced quote with the stored
 * one field by field, and a difference between two spellings would make it answer quote_stale.
 */
export interface LineFields {
  readonly item: string;
  readonly description: string;
  readonly quantity: number;
  readonly unitAmount: number | null;
  readonly amount: number;
  readonly proration: boolean;
  /** "charge" | "credit" (a stored row's column is plain text) */
  readonly kind: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
}

export function lineView(line: LineFields) {
  return {
    item: line.item,
    description: line.description,
    quantity: line.quantity,
    unit_amount: line.unitAmount,
    amount: line.amount,
    proration: line.proration,
    kind: line.kind as "charge" | "credit",
    period_start: line.periodStart.toISOString(),
    period_end: line.periodEnd.toISOString(),
  };
}
export type LineView = ReturnType<typeof lineView>;
