import { createHash } from "node:crypto";
import {
  formatMoney,
  type InvoiceTotals,
  invoicePostings,
  paymentPostings,
  type QuoteLine,
} from "@uptier/core";
import type { INVOICE_STATUSES, ListInvoicesQuery } from "@uptier/core/api";
import { and, asc, desc, eq, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { executePrepared } from "../../db/prepared.ts";
import { accounts, invoiceLines, invoices } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import type { BillingContext } from "../context.ts";
import { notFound } from "../errors.ts";
import type { EventToAppend } from "../events/append.ts";
import { balancedEntries } from "../ledger/post.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import { lineView } from "./line-view.ts";

/**
 * Invoices: numbered without gaps per vendor by a counter row updated in the invoice's own
 * transaction (a sequence would leave gaps on rollback), written with their lines and ledger
 * postings in that same transaction, at most one per checkout (a unique constraint).
 * Statuses: draft | open | paid | void | uncollectible. Checkout invoices are issued paid.
 */
export type InvoiceRow = typeof invoices.$inferSelect;
type LineRow = typeof invoiceLines.$inferSelect;

/** An event written with the invoices, typed by the catalog (core/api/events.ts). */
export type InvoiceEvent = EventToAppend;

/** A paid invoice for a checkout, as issuePaidInvoices writes it. */
export interface PaidInvoice {
  readonly accountId: string;
  readonly subscriptionId: string;
  readonly checkoutId: string;
  readonly currency: string;
  readonly lines: readonly QuoteLine[];
  readonly totals: InvoiceTotals;
  readonly gatewayPaymentId: string | null;
  readonly at: Date;
  /** the invoice's id, when the caller needs it before the invoice exists */
  readonly id?: string;
}

/** An event written with the invoices; `invoice` (an index into them) says whose number it carries. */
export type EventWithInvoice = InvoiceEvent & {
  readonly invoice: number | null;
  readonly at: Date;
};

// The number is not known before the counter is taken: events are built from invoices whose number
// is this placeholder, which the statement replaces.
const NUMBER = "@@uptier:invoice_number@@";

/**
 * Issues paid invoices for checkouts: numbers, lines, totals and the ledger, in the caller's tx.
 * The counter row serialises every invoice of the vendor until the transaction commits, so it is
 * taken last, once for all the invoices, and everything written after it goes in one statement:
 * the invoices (numbered consecutively in the order given), their lines, their ledger postings,
 * the caller's events (built from the issued invoices, written in order) and the caller's own
 * writes (`writes`, data-modifying CTEs `name as (…)` that must commit with the invoices). Callers
 * should do all their other work before calling this.
 */
export async function issuePaidInvoices(
  tx: Tx,
  billing: BillingContext,
  invoices: readonly PaidInvoice[],
  also: {
    events?: (issued: readonly InvoiceRow[]) => readonly EventWithInvoice[];
    writes?: readonly SQL[];
  } = {},
): Promise<InvoiceRow[]> {
  const rows = invoices.map((input) => paidInvoiceRow(billing, input));
  // Lines, ledger entries and events travel as one json parameter each (jsonb_to_recordset below):
  // cheaper to build than a parameter per column and row.
  const lineRows = invoices.flatMap((input, i) =>
    input.lines.map((l, position) => ({
      id: newId("invoiceLine", input.at),
      invoice_id: rows[i]?.id,
      account_id: input.accountId,
      subscription_id: input.subscriptionId,
      position,
      ...lineView(l),
    })),
  );
  const ledgerRows = invoices.flatMap((input, i) => {
    const id = rows[i]?.id as string;
    const postings = [
      { source: `invoice:${id}`, entries: invoicePostings(input.totals) },
      { source: `payment:${input.checkoutId}`, entries: paymentPostings(input.totals.amountDue) },
    ];
    return postings.flatMap(({ source, entries }) =>
      balancedEntries(source, entries).map((e) => ({
        account_id: input.accountId,
        source,
        invoice_id: id,
        checkout_id: input.checkoutId,
        ledger_account: e.ledgerAccount,
        amount: e.amount,
        currency: input.currency,
        created_at: input.at.toISOString(),
      })),
    );
  });
  const events = (also.events?.(rows) ?? []).map((e, ord) => ({
    ord,
    invoice: e.invoice,
    id: newId("event", e.at),
    account_id: e.accountId,
    type: e.type,
    data: e.data,
    created_at: e.at.toISOString(),
  }));

  const count = invoices.length;
  const writes: SQL[] = [];
  if (count > 0) {
    // The batch takes the numbers last_number - count + 1 … last_number, the n-th invoice the n-th.
    writes.push(
      sql`c as (insert into invoice_counters (vendor, prefix, last_number)
          values (${billing.vendor}, ${billing.invoicePrefix}, ${count}::int)
          on conflict (vendor) do update set last_number = invoice_counters.last_number + ${count}::int
          returning prefix, last_number)`,
      sql`n as (select k.ord, k.sequence,
          ${invoiceNumber(sql`c.prefix`, sql`k.sequence`)} as number
          from c cross join lateral (select g as ord, c.last_number - ${count}::int + 1 + g as sequence
            from generate_series(0, ${count - 1}::int) g) k)`,
      sql`i as (insert into invoices select (jsonb_populate_record(null::invoices,
          d.doc || jsonb_build_object('number', n.number, 'sequence', n.sequence))).*
        from jsonb_array_elements(${JSON.stringify(rows.map(invoiceDocument))}::jsonb) with ordinality d(doc, ord)
        inner join n on n.ord = d.ord - 1)`,
    );
  } else
    writes.push(sql`n as (select null::int as ord, null::int as sequence, null::text as number where false)`);
  if (lineRows.length > 0)
    writes.push(sql`l as (insert into invoice_lines (id, invoice_id, account_id, subscription_id, position, item,
        description, quantity, unit_amount, amount, proration, kind, period_start, period_end)
      select * from jsonb_to_recordset(${JSON.stringify(lineRows)}::jsonb) as l(id text, invoice_id text,
        account_id text, subscription_id text, position int, item text, description text, quantity bigint,
        unit_amount bigint, amount bigint, proration boolean, kind text, period_start timestamptz,
        period_end timestamptz))`);
  if (ledgerRows.length > 0)
    writes.push(sql`le as (insert into ledger_entries (account_id, source, invoice_id, checkout_id, ledger_account,
        amount, currency, created_at)
      select * from jsonb_to_recordset(${JSON.stringify(ledgerRows)}::jsonb) as e(account_id text, source text,
        invoice_id text, checkout_id text, ledger_account text, amount bigint, currency text, created_at timestamptz))`);
  if (events.length > 0)
    writes.push(sql`e as (insert into domain_events (id, account_id, type, data, created_at)
        select e.id, e.account_id, e.type, case when n.number is null then e.data
            else replace(e.data::text, ${JSON.stringify(NUMBER)}, to_jsonb(n.number)::text)::jsonb end,
          e.created_at
        from jsonb_to_recordset(${JSON.stringify(events)}::jsonb)
          as e(ord int, invoice int, id text, account_id text, type text, data jsonb, created_at timestamptz)
        left join n on n.ord = e.invoice
        order by e.ord)`);
  writes.push(...(also.writes ?? []));
  // One statement takes the counter (from here on every other invoice of the vendor waits for our
  // commit) and writes everything that follows it; the lines' foreign keys are checked at its end.
  const result = (await executePrepared(
    tx,
    sql`with ${sql.join(writes, sql`, `)} select ord, number, sequence from n order by ord`,
  )) as { rows: { ord: number; number: string; sequence: number | string }[] };
  if (result.rows.length !== count) throw new Error("invoice counter returned nothing");
  return rows.map((row, i) => {
    const taken = result.rows[i] as { number: string; sequence: number | string };
    return { ...row, number: taken.number, sequence: Number(taken.sequence) };
  });
}

function paidInvoiceRow(billing: BillingContext, input: PaidInvoice): InvoiceRow {
  const starts = input.lines.map((l) => l.periodStart.getTime());
  const ends = input.lines.map((l) => l.periodEnd.getTime());
  return {
    id: input.id ?? newId("invoice", input.at),
    accountId: input.accountId,
    subscriptionId: input.subscriptionId,
    checkoutId: input.checkoutId,
    vendor: billing.vendor,
    number: NUMBER,
    sequence: 0,
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
    billingReason: null,
    finalizedAt: null,
    nextPaymentAttempt: null,
    voidedAt: null,
    markedUncollectibleAt: null,
  };
}

/** The invoice row as jsonb_populate_record reads it (number and sequence added by the statement). */
function invoiceDocument(row: InvoiceRow) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: row.id,
    account_id: row.accountId,
    subscription_id: row.subscriptionId,
    checkout_id: row.checkoutId,
    vendor: row.vendor,
    status: row.status,
    currency: row.currency,
    subtotal: row.subtotal,
    credit_applied: row.creditApplied,
    credit_added: row.creditAdded,
    amount_due: row.amountDue,
    amount_paid: row.amountPaid,
    gateway_payment_id: row.gatewayPaymentId,
    period_start: iso(row.periodStart),
    period_end: iso(row.periodEnd),
    issued_at: iso(row.issuedAt),
    paid_at: iso(row.paidAt),
    created_at: iso(row.createdAt),
  };
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
    lines: lines.map((l) => ({ id: l.id, ...lineView(l) })),
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
    billing_reason: (row.billingReason ?? "subscription_update") as
      | "subscription_cycle"
      | "subscription_final"
      | "subscription_update",
    finalized_at: iso(row.finalizedAt ?? (row.status === "draft" ? null : row.issuedAt)),
    next_payment_attempt: iso(row.nextPaymentAttempt),
    voided_at: iso(row.voidedAt),
    marked_uncollectible_at: iso(row.markedUncollectibleAt),
    html_url: `/v1/invoices/${row.id}/html`,
    pdf_url: `/v1/invoices/${row.id}/pdf`,
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

const INVOICE_STYLE = `
body{font:14px/1.45 system-ui,sans-serif;max-width:800px;margin:40px auto;color:#111}
table{width:100%;border-collapse:collapse}td,th{padding:6px 8px;border-bottom:1px solid #ddd;text-align:left}
.n{text-align:right;font-variant-numeric:tabular-nums}tfoot th{text-align:right}
.status{display:inline-block;padding:2px 8px;border-radius:4px;background:#e6f4ea;text-transform:uppercase;font-size:12px}
.status-open,.status-draft{background:#fff4d6}.status-void,.status-uncollectible{background:#eee;color:#555}
@media print{body{margin:0}}
`;

/**
 * The invoice page's Content-Security-Policy: nothing loads or runs but its own style block (by
 * hash), so text a customer chose (an account name, a line description) can never become script
 * even if escaping were missed.
 */
export const INVOICE_HTML_CSP = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(INVOICE_STYLE).digest("base64")}'; base-uri 'none'; form-action 'none'`;

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
<html lang="en"><head><meta charset="utf-8"><title>Invoice ${escapeHtml(invoice.number ?? "draft")}</title>
<style>${INVOICE_STYLE}</style></head><body>
<h1>Invoice ${escapeHtml(invoice.number ?? "(draft)")} <span class="status status-${escapeHtml(invoice.status)}">${escapeHtml(invoice.status)}</span></h1>
<p>Billed to <strong>${escapeHtml(account?.name ?? invoice.account)}</strong> (${escapeHtml(invoice.account)})<br>
Issued ${day(invoice.issued_at)}${invoice.paid_at ? ` · paid ${day(invoice.paid_at)}` : ""}${invoice.voided_at ? ` · voided ${day(invoice.voided_at)}` : ""}${invoice.marked_uncollectible_at ? ` · marked uncollectible ${day(invoice.marked_uncollectible_at)}` : ""}${invoice.next_payment_attempt ? ` · next payment attempt ${day(invoice.next_payment_attempt)}` : ""} · ${escapeHtml(invoice.currency.toUpperCase())}</p>
<table><thead><tr><th>Description</th><th>Period</th><th class="n">Qty</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>
${rows}
</tbody><tfoot>
${total("Subtotal", invoice.subtotal)}
${invoice.credit_applied ? total("Credit balance applied", -invoice.credit_applied) : ""}
${invoice.credit_to_balance ? total("Credited to your balance", invoice.credit_to_balance) : ""}
${total("Amount due", invoice.amount_due)}
${total("Amount paid", invoice.amount_paid)}
${invoice.status === "open" ? total("Amount remaining", invoice.amount_remaining) : ""}
</tfoot></table>
</body></html>`;
}

/**
 * An invoice number, as SQL, formatted here and only here: the vendor's prefix and the counter,
 * zero padded to six digits ("UPT-000042"), longer once it outgrows them.
 */
function invoiceNumber(prefix: SQL, sequence: SQL): SQL {
  return sql`${prefix} || '-' || case when length(${sequence}::text) >= 6 then ${sequence}::text
    else lpad(${sequence}::text, 6, '0') end`;
}

/**
 * Takes the vendor's next invoice number, for an invoice finalized outside checkout (a renewal
 * draft becoming open). The same counter row and format as issuePaidInvoices: the row stays
 * locked until the caller's transaction commits, so numbers are gap-free, and a draft never
 * takes one.
 */
export async function takeInvoiceNumber(
  tx: Tx,
  billing: Pick<BillingContext, "vendor" | "invoicePrefix">,
): Promise<{ number: string; sequence: number }> {
  const result = await tx.execute(
    sql`insert into invoice_counters (vendor, prefix, last_number)
        values (${billing.vendor}, ${billing.invoicePrefix}, 1)
        on conflict (vendor) do update set last_number = invoice_counters.last_number + 1
        returning ${invoiceNumber(sql`prefix`, sql`last_number`)} as number, last_number`,
  );
  const row = (result as unknown as { rows: { number: string; last_number: number | string }[] }).rows[0];
  if (!row) throw new Error("invoice counter returned nothing");
  return { number: row.number, sequence: Number(row.last_number) };
}
