import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocateCredit,
  type CreditableInvoice,
  type CreditNoteOutcome,
  type CreditRequest,
  creditNotePostings,
  spreadOverLines,
  unitsAmount,
} from "./credit-notes.ts";

/** A paid invoice of these lines (id l0, l1, …), paid by card and the credit balance, nothing credited yet. */
function paidInvoice(
  lines: readonly { amount: number; quantity: number }[],
  creditApplied = 0,
): CreditableInvoice {
  const subtotal = lines.reduce((s, l) => s + l.amount, 0);
  return {
    amountPaid: Math.max(0, subtotal) - creditApplied,
    creditApplied,
    credited: 0,
    refunded: 0,
    lines: lines.map((l, i) => ({ id: `l${i}`, ...l, creditedAmount: 0, creditedQuantity: 0 })),
  };
}

/** The invoice after a credit note was issued: what it took, line by line. */
function afterNote(
  invoice: CreditableInvoice,
  note: { total: number; lines: readonly { line: string; quantity: number | null; amount: number }[] },
  outcome: CreditNoteOutcome,
): CreditableInvoice {
  return {
    ...invoice,
    credited: invoice.credited + note.total,
    refunded: invoice.refunded + (outcome === "refund" ? note.total : 0),
    lines: invoice.lines.map((l) => {
      const taken = note.lines.filter((n) => n.line === l.id);
      return {
        ...l,
        creditedAmount: l.creditedAmount + taken.reduce((s, n) => s + n.amount, 0),
        creditedQuantity: l.creditedQuantity + taken.reduce((s, n) => s + (n.quantity ?? 0), 0),
      };
    }),
  };
}

describe("credit notes: worked examples", () => {
  // Pro for 12 seats: the plan $99 and 2 extra seats at $25 = $149, paid by card.
  const invoice = paidInvoice([
    { amount: 9_900, quantity: 1 },
    { amount: 5_000, quantity: 2 },
  ]);

  it("credits one of two seats at its unit price, then the other; a third is refused", () => {
    const one = allocateCredit(invoice, { lines: [{ line: "l1", quantity: 1 }] }, "refund");
    expect(one).toEqual({ ok: true, total: 2_500, lines: [{ line: "l1", quantity: 1, amount: 2_500 }] });
    if (!one.ok) return;
    const after = afterNote(invoice, one, "refund");
    const two = allocateCredit(after, { lines: [{ line: "l1", quantity: 1 }] }, "credit");
    expect(two).toMatchObject({ ok: true, total: 2_500 });
    if (!two.ok) return;
    expect(
      allocateCredit(afterNote(after, two, "credit"), { lines: [{ line: "l1", quantity: 1 }] }, "credit"),
    ).toMatchObject({ ok: false, code: "credit_note_exceeds_line", param: "lines.0.quantity" });
  });

  it("spreads an amount over the lines in proportion: $14.90 of $149 is $9.90 + $5.00", () => {
    expect(allocateCredit(invoice, { amount: 1_490 }, "credit")).toEqual({
      ok: true,
      total: 1_490,
      lines: [
        { line: "l0", quantity: null, amount: 990 },
        { line: "l1", quantity: null, amount: 500 },
      ],
    });
  });

  it("refuses more than was paid, a refund beyond the card's part, and an unknown or repeated line", () => {
    expect(allocateCredit(invoice, { amount: 14_901 }, "credit")).toMatchObject({
      ok: false,
      code: "credit_note_exceeds_paid",
    });
    const partlyFromBalance = paidInvoice([{ amount: 10_000, quantity: 1 }], 4_000);
    expect(allocateCredit(partlyFromBalance, { amount: 6_001 }, "refund")).toMatchObject({
      ok: false,
      code: "credit_note_exceeds_refundable",
    });
    expect(allocateCredit(partlyFromBalance, { amount: 10_000 }, "credit")).toMatchObject({ ok: true });
    expect(allocateCredit(invoice, { lines: [{ line: "nope" }] }, "credit")).toMatchObject({
      code: "unknown_invoice_line",
    });
    expect(allocateCredit(invoice, { lines: [{ line: "l0" }, { line: "l0" }] }, "credit")).toMatchObject({
      code: "duplicate_credit_note_line",
    });
  });

  it("caps line credits at what was paid when a proration credit lowered the total", () => {
    const withCredit = paidInvoice([
      { amount: 10_000, quantity: 1 },
      { amount: -3_000, quantity: 1 },
    ]);
    expect(allocateCredit(withCredit, { lines: [{ line: "l0" }] }, "refund")).toMatchObject({
      ok: false,
      code: "credit_note_exceeds_paid",
    });
    expect(allocateCredit(withCredit, { lines: [{ line: "l1" }] }, "refund")).toMatchObject({
      ok: false,
      code: "credit_note_empty",
    });
    expect(allocateCredit(withCredit, { amount: 7_000 }, "refund")).toMatchObject({ ok: true, total: 7_000 });
  });

  it("posts balanced entries: revenue back, and cash or the credit balance", () => {
    expect(creditNotePostings(2_500, "refund")).toEqual([
      { ledgerAccount: "revenue", amount: 2_500 },
      { ledgerAccount: "cash", amount: -2_500 },
    ]);
    expect(creditNotePostings(2_500, "credit")).toEqual([
      { ledgerAccount: "revenue", amount: 2_500 },
      { ledgerAccount: "customer_credit", amount: -2_500 },
    ]);
  });
});

const line = fc.record({
  amount: fc.integer({ min: -50_000, max: 5_000_000 }),
  quantity: fc.integer({ min: 0, max: 500 }),
});
const invoiceArb = fc
  .tuple(fc.array(line, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 100 }))
  .filter(([lines]) => lines.reduce((s, l) => s + l.amount, 0) > 0)
  .map(([lines, pct]) => {
    const subtotal = lines.reduce((s, l) => s + l.amount, 0);
    return paidInvoice(lines, Math.floor((subtotal * pct) / 100));
  });
const requestArb = (n: number): fc.Arbitrary<CreditRequest> =>
  fc.oneof(
    fc.integer({ min: 1, max: 6_000_000 }).map((amount) => ({ amount })),
    fc
      .uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: n })
      .chain((ids) =>
        fc.tuple(
          ...ids.map((i) =>
            fc.oneof(
              fc.constant({ line: `l${i}` }),
              fc.integer({ min: 1, max: 500 }).map((quantity) => ({ line: `l${i}`, quantity })),
              fc.integer({ min: 1, max: 5_000_000 }).map((amount) => ({ line: `l${i}`, amount })),
            ),
          ),
        ),
      )
      .map((lines) => ({ lines })),
  );

describe("credit notes: properties", () => {
  it("spreads any amount up to what the lines have left exactly, never past a line's remainder", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (remaining, share) => {
          const total = remaining.reduce((s, r) => s + r, 0);
          const amount = Math.floor(total * share);
          const parts = spreadOverLines(remaining, amount);
          expect(parts.reduce((s, p) => s + p, 0)).toBe(amount);
          parts.forEach((p, i) => {
            expect(Number.isSafeInteger(p)).toBe(true);
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThanOrEqual(remaining[i] as number);
          });
        },
      ),
    );
  });

  it("crediting a line's units in any steps credits exactly its amount, per unit when priced per unit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 40 }),
        (amount, quantity, steps) => {
          let credited = 0;
          let total = 0;
          for (const step of steps) {
            const units = Math.min(step, quantity - credited);
            if (units <= 0) break;
            total += unitsAmount({ amount, quantity }, credited, units);
            credited += units;
          }
          total += unitsAmount({ amount, quantity }, credited, quantity - credited);
          expect(total).toBe(amount);
          const unit = Math.floor(amount / quantity);
          expect(unitsAmount({ amount: unit * quantity, quantity }, credited % quantity, 1)).toBe(unit);
        },
      ),
    );
  });

  it("whatever is asked, in any order: Σ credit notes ≤ the invoice's total, refunds ≤ the card's part, each line ≤ its amount", () => {
    fc.assert(
      fc.property(
        invoiceArb.chain((invoice) =>
          fc.tuple(
            fc.constant(invoice),
            fc.array(
              fc.tuple(
                requestArb(invoice.lines.length),
                fc.constantFrom<CreditNoteOutcome>("refund", "credit"),
              ),
              {
                maxLength: 8,
              },
            ),
          ),
        ),
        ([invoice, requests]) => {
          const total = invoice.lines.reduce((s, l) => s + l.amount, 0);
          let state = invoice;
          for (const [request, outcome] of requests) {
            const note = allocateCredit(state, request, outcome);
            if (!note.ok) continue;
            expect(note.total).toBeGreaterThan(0);
            expect(note.lines.reduce((s, l) => s + l.amount, 0)).toBe(note.total);
            for (const l of note.lines) expect(l.amount).toBeGreaterThan(0);
            if (request.amount !== undefined) expect(note.total).toBe(request.amount);
            state = afterNote(state, note, outcome);
          }
          expect(state.credited).toBeLessThanOrEqual(total);
          expect(state.refunded).toBeLessThanOrEqual(invoice.amountPaid);
          for (const l of state.lines) {
            expect(l.creditedAmount).toBeLessThanOrEqual(Math.max(0, l.amount));
            expect(l.creditedQuantity).toBeLessThanOrEqual(l.quantity);
          }
        },
      ),
    );
  });

  it("a full credit, line by line, credits exactly what was paid when nothing was a credit line", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            amount: fc.integer({ min: 1, max: 5_000_000 }),
            quantity: fc.integer({ min: 1, max: 500 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (lines) => {
          const invoice = paidInvoice(lines);
          const note = allocateCredit(invoice, { lines: lines.map((_, i) => ({ line: `l${i}` })) }, "refund");
          expect(note).toMatchObject({ ok: true, total: invoice.amountPaid });
          if (note.ok)
            expect(allocateCredit(afterNote(invoice, note, "refund"), { amount: 1 }, "credit").ok).toBe(
              false,
            );
        },
      ),
    );
  });
});
