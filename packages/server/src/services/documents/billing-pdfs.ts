import { formatMoney } from "@uptier/core";
import { eq } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { accounts } from "../../db/schema/index.ts";
import { getCreditNote } from "../credit-notes/credit-notes.ts";
import { DomainError } from "../errors.ts";
import { getInvoice } from "../invoices/issue.ts";
import { renderPdf } from "./pdf.ts";
import type { VendorProfile } from "./vendor.ts";

/** The PDFs of invoices and credit notes (docs/credit-notes.md, "Documents"). */

/** A document's PDF and the number it is filed under. */
export interface BillingPdf {
  readonly number: string;
  readonly pdf: Buffer;
}

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "");

async function billedTo(db: Executor, accountId: string) {
  const [account] = await db.select({ name: accounts.name }).from(accounts).where(eq(accounts.id, accountId));
  return { name: account?.name ?? accountId, id: accountId };
}

/** A finalized invoice as a PDF; a draft has no number yet, so no document (`invoice_draft`). */
export async function invoicePdf(db: Executor, vendor: VendorProfile, id: string): Promise<BillingPdf> {
  const invoice = await getInvoice(db, id);
  if (invoice.status === "draft" || invoice.number === null)
    throw new DomainError(
      "invoice_draft",
      `Invoice ${id} is a draft: it has no number and no PDF until it is finalized.`,
      { param: "id" },
    );
  const money = (amount: number) => formatMoney({ amount, currency: invoice.currency });
  const facts: [string, string][] = [["Issued", day(invoice.finalized_at ?? invoice.issued_at)]];
  if (invoice.period_start)
    facts.push(["Period", `${day(invoice.period_start)} – ${day(invoice.period_end)}`]);
  if (invoice.paid_at) facts.push(["Paid", day(invoice.paid_at)]);
  if (invoice.voided_at) facts.push(["Voided", day(invoice.voided_at)]);
  if (invoice.marked_uncollectible_at)
    facts.push(["Marked uncollectible", day(invoice.marked_uncollectible_at)]);
  facts.push(["Currency", invoice.currency.toUpperCase()]);
  const totals: [string, string][] = [["Subtotal", money(invoice.subtotal)]];
  if (invoice.credit_applied) totals.push(["Credit balance applied", money(-invoice.credit_applied)]);
  if (invoice.credit_to_balance) totals.push(["Credited to your balance", money(invoice.credit_to_balance)]);
  totals.push(["Amount due", money(invoice.amount_due)], ["Amount paid", money(invoice.amount_paid)]);
  if (invoice.status === "open") totals.push(["Amount remaining", money(invoice.amount_remaining)]);
  const pdf = await renderPdf({
    title: "Invoice",
    number: invoice.number,
    status: invoice.status,
    vendor,
    billedTo: await billedTo(db, invoice.account),
    facts,
    lines: invoice.lines.map((l) => ({
      description: l.description,
      period: `${day(l.period_start)} – ${day(l.period_end)}`,
      quantity: String(l.quantity),
      unitAmount: l.unit_amount === null ? "" : money(l.unit_amount),
      amount: money(l.amount),
    })),
    totals,
    date: new Date(invoice.finalized_at ?? invoice.issued_at),
  });
  return { number: invoice.number, pdf };
}

/** A credit note as a PDF (every credit note has its number from the start). */
export async function creditNotePdf(db: Executor, vendor: VendorProfile, id: string): Promise<BillingPdf> {
  const note = await getCreditNote(db, id);
  const money = (amount: number) => formatMoney({ amount, currency: note.currency });
  const outcome =
    note.outcome === "refund" ? "Refunded to the card that paid the invoice" : "Credited to your balance";
  const pdf = await renderPdf({
    title: "Credit note",
    number: note.number,
    status: note.status === "issued" ? "issued" : "refund pending",
    vendor,
    billedTo: await billedTo(db, note.account),
    facts: [
      ["Issued", day(note.issued_at ?? note.created)],
      ["Credits invoice", note.invoice_number ?? note.invoice],
      ["Outcome", outcome],
      ["Currency", note.currency.toUpperCase()],
    ],
    lines: note.lines.map((l) => ({
      description: l.description,
      period: "",
      quantity: l.quantity === null ? "" : String(l.quantity),
      unitAmount: "",
      amount: money(l.amount),
    })),
    totals: [["Total credited", money(note.amount)]],
    note: note.memo,
    date: new Date(note.created),
  });
  return { number: note.number, pdf };
}
