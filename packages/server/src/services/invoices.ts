import {
  formatInvoiceNumber,
  formatMoney,
  type InvoiceTotals,
  invoicePostings,
  type LedgerPosting,
  paymentPostings,
  type QuoteLine,
} from "@uptier/core";
import { and, asc, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor, Tx } from "../db/client.ts";
import { accounts, invoiceCounters, invoiceLines, invoices, ledgerEntries } from "../db/schema/index.ts";
import { notFound } from "../http/problem.ts";
import { newId } from "../ids.ts";
import type { BillingContext } from "./billing-context.ts";
import { decodeCursor, ListQuery, type Page, toPage } from "./pagination.ts";

/**
 * Invoices: numbered without gaps per vendor by a counter row updated in the invoice's own
 * transaction (a sequence would leave gaps on rollback), written with their lines and ledger
 * postings in that same transaction, at most one per checkout (a unique constraint).
 * Statuses: draft | open | paid | void | uncollectible. Checkout invoices are issued paid.
 */
export const INVOICE_STATUSES = ["draft", "open", "paid", "void", "uncollectible"] as const;

export const ListInvoicesQuery = ListQuery.extend({
  account: z.string().max(64).optional(),
  status: z.enum(INVOICE_STATUSES).optional(),
}).strict();

type InvoiceRow = typeof invoices.$inferSelect;
type LineRow = typeof invoiceLines.$inferSelect;

async function nextInvoiceNumber(
  tx: Tx,
  billing: BillingContext,
): Promise<{ sequence: number; number: string }> {
  const [row] = await tx
    .insert(invoiceCounters)
    .values({ vendor: billing.vendor, prefix: billing.invoicePrefix, lastNumber: 1 })
    .onConflictDoUpdate({
      target: invoiceCounters.vendor,
      set: { lastNumber: sqlIncrement() },
    })
    .returning();
  const counter = row as typeof invoiceCounters.$inferSelect;
  return { sequence: counter.lastNumber, number: formatInvoiceNumber(counter.prefix, counter.lastNumber) };
}

const sqlIncrement = () => sql`${invoiceCounters.lastNumber} + 1`;

export async function postLedger(
  tx: Tx,
  posting: {
    accountId: string;
    source: string;
    invoiceId?: string;
    checkoutId?: string;
    currency: string;
    at: Date;
  },
  entries: readonly LedgerPosting[],
): Promise<void> {
  if (entries.length === 0) return;
  const total = entries.reduce((s, e) => s + e.amount, 0);
  if (total !== 0) throw new Error(`ledger posting ${posting.source} does not balance: ${total}`);
  await tx.insert(ledgerEntries).values(
    entries.map((e) => ({
      accountId: posting.accountId,
      source: posting.source,
      invoiceId: posting.invoiceId ?? null,
      checkoutId: posting.checkoutId ?? null,
      ledgerAccount: e.ledgerAccount,
      amount: e.amount,
      currency: posting.currency,
      createdAt: posting.at,
    })),
  );
}

/** Issues a paid invoice for a checkout: number, lines, totals and the ledger, in the caller's tx. */
export async function issuePaidInvoice(
  tx: Tx,
  billing: BillingContext,
  input: {
    accountId: string;
    subscriptionId: string;
    checkoutId: string;
    currency: string;
    lines: readonly QuoteLine[];
    totals: InvoiceTotals;
    gatewayPaymentId: string | null;
    at: Date;
  },
): Promise<InvoiceRow> {
  const { sequence, number } = await nextInvoiceNumber(tx, billing);
  const id = newId("invoice", input.at);
  const starts = input.lines.map((l) => l.periodStart.getTime());
  const ends = input.lines.map((l) => l.periodEnd.getTime());
  const [row] = await tx
    .insert(invoices)
    .values({
      id,
      accountId: input.accountId,
      subscriptionId: input.subscriptionId,
      checkoutId: input.checkoutId,
      vendor: billing.vendor,
      number,
      sequence,
      status: "paid",
      currency: input.currency,
      subtotal: input.totals.subtotal,
      creditApplied: input.totals.creditApplied,
      creditAdded: input.totals.creditAdded,
      amountDue: input.totals.amountDue,
      amountPaid: input.totals.amountDue,
      gatewayPaymentId: input.gatewayPaymentId,
      periodStart: starts.length ? new Date(Math.min(...starts)) : null,
      periodEnd: ends.length ? new Date(Math.max(...ends)) : null,
      issuedAt: input.at,
      paidAt: input.at,
      createdAt: input.at,
    })
    .returning();
  if (input.lines.length > 0)
    await tx.insert(invoiceLines).values(
      input.lines.map((l, position) => ({
        id: newId("invoiceLine", input.at),
        invoiceId: id,
        accountId: input.accountId,
        subscriptionId: input.subscriptionId,
        position,
        item: l.item,
        description: l.description,
        quantity: l.quantity,
        unitAmount: l.unitAmount,
        amount: l.amount,
        proration: l.proration,
        kind: l.kind,
        periodStart: l.periodStart,
        periodEnd: l.periodEnd,
      })),
    );
  const base = {
    accountId: input.accountId,
    currency: input.currency,
    at: input.at,
    checkoutId: input.checkoutId,
  };
  await postLedger(tx, { ...base, source: `invoice:${id}`, invoiceId: id }, invoicePostings(input.totals));
  await postLedger(
    tx,
    { ...base, source: `payment:${input.checkoutId}`, invoiceId: id },
    paymentPostings(input.totals.amountDue),
  );
  return row as InvoiceRow;
}

export function invoiceView(row: InvoiceRow, lines: readonly LineRow[]) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: row.id,
    object: "invoice" as const,
    number: row.number,
    account: row.accountId,
    subscription: row.subscriptionId,
    checkout: row.checkoutId,
    status: row.status as (typeof INVOICE_STATUSES)[number],
    currency: row.currency,
    lines: lines.map((l) => ({
      id: l.id,
      item: l.item,
      description: l.description,
      quantity: l.quantity,
      unit_amount: l.unitAmount,
      amount: l.amount,
      proration: l.proration,
      kind: l.kind as "charge" | "credit",
      period_start: l.periodStart.toISOString(),
      period_end: l.periodEnd.toISOString(),
    })),
    subtotal: row.subtotal,
    total: row.subtotal,
    credit_applied: row.creditApplied,
    credit_to_balance: row.creditAdded,
    amount_due: row.amountDue,
    amount_paid: row.amountPaid,
    amount_remaining: row.amountDue - row.amountPaid,
    payment: row.gatewayPaymentId,
    period_start: iso(row.periodStart),
    period_end: iso(row.periodEnd),
    issued_at: row.issuedAt.toISOString(),
    paid_at: iso(row.paidAt),
    html_url: `/v1/invoices/${row.id}/html`,
  };
}
export type InvoiceView = ReturnType<typeof invoiceView>;

async function linesOf(db: Executor, ids: readonly string[]): Promise<LineRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(invoiceLines)
    .where(inArray(invoiceLines.invoiceId, [...ids]))
    .orderBy(asc(invoiceLines.invoiceId), asc(invoiceLines.position));
}

export async function getInvoice(db: Executor, id: string): Promise<InvoiceView> {
  const [row] = await db.select().from(invoices).where(eq(invoices.id, id));
  if (!row) throw notFound("invoice", id);
  return invoiceView(row, await linesOf(db, [id]));
}

export async function listInvoices(
  db: Executor,
  query: z.infer<typeof ListInvoicesQuery>,
): Promise<Page<InvoiceView>> {
  const cursor = decodeCursor(query.cursor, "inv");
  const rows = await db
    .select()
    .from(invoices)
    .where(
      and(
        cursor ? lt(invoices.id, cursor) : undefined,
        query.account ? eq(invoices.accountId, query.account) : undefined,
        query.status ? eq(invoices.status, query.status) : undefined,
      ),
    )
    .orderBy(desc(invoices.id))
    .limit(query.limit + 1);
  const lines = await linesOf(
    db,
    rows.slice(0, query.limit).map((r) => r.id),
  );
  return toPage(rows, query.limit, (r) =>
    invoiceView(
      r,
      lines.filter((l) => l.invoiceId === r.id),
    ),
  );
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

/** A printable, self-contained HTML invoice (print it to PDF from the browser). */
export async function invoiceHtml(db: Executor, id: string): Promise<string> {
  const invoice = await getInvoice(db, id);
  const [account] = await db.select().from(accounts).where(eq(accounts.id, invoice.account));
  const money = (amount: number) => escapeHtml(formatMoney({ amount, currency: invoice.currency }));
  const day = (d: string | null) => (d ? d.slice(0, 10) : "");
  const rows = invoice.lines
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.description)}</td><td>${day(l.period_start)} – ${day(l.period_end)}</td><td class="n">${l.quantity}</td><td class="n">${l.unit_amount === null ? "" : money(l.unit_amount)}</td><td class="n">${money(l.amount)}</td></tr>`,
    )
    .join("\n");
  const total = (label: string, amount: number) =>
    `<tr><th colspan="4">${label}</th><td class="n">${money(amount)}</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice ${escapeHtml(invoice.number)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:800px;margin:40px auto;color:#111}
table{width:100%;border-collapse:collapse}td,th{padding:6px 8px;border-bottom:1px solid #ddd;text-align:left}
.n{text-align:right;font-variant-numeric:tabular-nums}tfoot th{text-align:right}
.status{display:inline-block;padding:2px 8px;border-radius:4px;background:#e6f4ea;text-transform:uppercase;font-size:12px}
@media print{body{margin:0}}
</style></head><body>
<h1>Invoice ${escapeHtml(invoice.number)} <span class="status">${escapeHtml(invoice.status)}</span></h1>
<p>Billed to <strong>${escapeHtml(account?.name ?? invoice.account)}</strong> (${escapeHtml(invoice.account)})<br>
Issued ${day(invoice.issued_at)}${invoice.paid_at ? ` · paid ${day(invoice.paid_at)}` : ""} · ${escapeHtml(invoice.currency.toUpperCase())}</p>
<table><thead><tr><th>Description</th><th>Period</th><th class="n">Qty</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>
${rows}
</tbody><tfoot>
${total("Subtotal", invoice.subtotal)}
${invoice.credit_applied ? total("Credit balance applied", -invoice.credit_applied) : ""}
${invoice.credit_to_balance ? total("Credited to your balance", invoice.credit_to_balance) : ""}
${total("Amount due", invoice.amount_due)}
${total("Amount paid", invoice.amount_paid)}
</tfoot></table>
</body></html>`;
}
