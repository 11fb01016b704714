import { eq } from "drizzle-orm";
import { PDFParse } from "pdf-parse";
import { describe, expect, it } from "vitest";
import { creditNotes, domainEvents } from "../../src/db/schema/index.ts";
import { refundCreditNotesJob, runJobOnce } from "../../src/jobs/billing-jobs.ts";
import { refundPendingCreditNotes } from "../../src/services/credit-notes/credit-notes.ts";
import { draftRenewal } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  invoiceJson,
  invoicesOf,
  renewAt,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * Credit notes, void and the PDFs of invoices and credit notes, over HTTP on PGlite and PostgreSQL.
 * The harness checks after every scenario that the ledger reconciles with the invoices, the credit
 * notes and what the sandbox collected net of refunds. Time only moves forward in this file.
 */
process.env.UPTIER_VENDOR_NAME = "Acme Analytics Ltd";
process.env.UPTIER_VENDOR_ADDRESS = "1 Market Street\\nLondon EC1A 1AA";
process.env.UPTIER_VENDOR_TAX_ID = "GB123456789";

const api: BillingApi = useBillingApi();

/** A Pro customer (12 seats, SSO) renewed and paid on `renewIso`: $249 plan, 2 × $15 seats, $49 SSO. */
async function paidRenewal(anchor: string, renewIso: string) {
  api.clock.set(anchor);
  const c = await customer(api, "pro", {
    seats: 12,
    add_ons: [{ key: "sso" }],
    billing_cycle_anchor: anchor,
  });
  await renewAt(api, renewIso);
  const [renewal] = await invoicesOf(api, c.subscription);
  const invoice = await invoiceJson(api, renewal?.id as string);
  expect(invoice).toMatchObject({ status: "paid", subtotal: 32_800, amount_paid: 32_800 });
  const line = (item: string) => invoice.lines.find((l: { item: string }) => l.item === item).id as string;
  return {
    ...c,
    invoice: invoice.id as string,
    number: invoice.number as string,
    line,
    payment: invoice.payment,
  };
}

const creditNote = (body: Record<string, unknown>, key?: string) =>
  api.request("POST", "/v1/credit_notes", body, key ? { "idempotency-key": key } : undefined);

const refundedOn = async (payment: string) =>
  (await api.sandbox.collected()).find((p) => p.id === payment)?.refunded ?? Number.NaN;

const ledgerOf = async (account: string) =>
  (await api.request("GET", `/v1/accounts/${account}/ledger`)).json();

async function pdfText(url: string) {
  const response = await api.request("GET", url);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers["content-type"]).toBe("application/pdf");
  expect(response.rawPayload.subarray(0, 5).toString()).toBe("%PDF-");
  const parser = new PDFParse({ data: new Uint8Array(response.rawPayload) });
  try {
    return (await parser.getText()).text;
  } finally {
    await parser.destroy();
  }
}

describe("credit notes", () => {
  it("refunds one seat to the card: its unit price, numbered, posted, refunded once, an event", async () => {
    const c = await paidRenewal("2026-01-20T00:00:00Z", "2026-02-20T00:00:10Z");
    const response = await creditNote({
      invoice: c.invoice,
      outcome: "refund",
      lines: [{ line: c.line("seats"), quantity: 1 }],
      memo: "One seat was never used",
    });
    expect(response.statusCode, response.body).toBe(201);
    const note = response.json();
    expect(note).toMatchObject({
      object: "credit_note",
      status: "issued",
      outcome: "refund",
      invoice: c.invoice,
      invoice_number: c.number,
      amount: 1_500,
      lines: [{ invoice_line: c.line("seats"), description: "2 × Pro seat", quantity: 1, amount: 1_500 }],
      memo: "One seat was never used",
    });
    expect(note.number).toMatch(/^UPT-CN-\d{6}$/);
    expect(note.refund).toMatch(/^sbre_/);
    expect(await refundedOn(c.payment)).toBe(1_500);
    const ledger = await ledgerOf(c.account);
    expect(ledger.balances.usd).toMatchObject({ revenue: -32_800 + 1_500, cash: 32_800 - 1_500 });
    expect(
      ledger.entries.filter((e: { source: string }) => e.source === `credit_note:${note.id}`),
    ).toHaveLength(2);
    const events = await api.database.db
      .select()
      .from(domainEvents)
      .where(eq(domainEvents.accountId, c.account));
    const created = events.filter((e) => e.type === "credit_note.created");
    expect(created.map((e) => (e.data as { credit_note: { id: string } }).credit_note.id)).toEqual([note.id]);
    expect((await api.request("GET", `/v1/credit_notes/${note.id}`)).json()).toEqual(note);
  });

  it("credits an amount to the balance, spread over the lines; the next renewal spends it", async () => {
    const c = await paidRenewal("2026-02-21T00:00:00Z", "2026-03-21T00:00:10Z");
    const response = await creditNote({ invoice: c.invoice, outcome: "credit", amount: 3_280 });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toMatchObject({
      status: "issued",
      amount: 3_280,
      refund: null,
      lines: [
        { invoice_line: c.line("plan"), quantity: null, amount: 2_490 },
        { invoice_line: c.line("seats"), quantity: null, amount: 300 },
        { invoice_line: c.line("add_on:sso"), quantity: null, amount: 490 },
      ],
    });
    expect(await refundedOn(c.payment)).toBe(0);
    expect((await ledgerOf(c.account)).credit_balance.usd).toBe(3_280);
    await renewAt(api, "2026-04-21T00:00:10Z");
    const [, next] = await invoicesOf(api, c.subscription);
    expect(await invoiceJson(api, next?.id as string)).toMatchObject({
      status: "paid",
      credit_applied: 3_280,
      amount_paid: 32_800 - 3_280,
    });
  });

  it("never credits more than was paid: the rest, then nothing; numbers stay gap-free past refusals", async () => {
    const c = await paidRenewal("2026-04-22T00:00:00Z", "2026-05-22T00:00:10Z");
    const first = (
      await creditNote({ invoice: c.invoice, outcome: "refund", lines: [{ line: c.line("plan") }] })
    ).json();
    expect(first).toMatchObject({ amount: 24_900, lines: [{ quantity: 1, amount: 24_900 }] });
    const above = await creditNote({ invoice: c.invoice, outcome: "credit", amount: 7_901 });
    expect(above.statusCode).toBe(422);
    expect(above.headers["content-type"]).toMatch(/application\/problem\+json/);
    expect(above.json()).toMatchObject({ code: "credit_note_exceeds_paid", param: "amount" });
    const planAgain = await creditNote({
      invoice: c.invoice,
      outcome: "credit",
      lines: [{ line: c.line("plan") }],
    });
    expect(planAgain.json()).toMatchObject({ code: "credit_note_empty" });
    const twoSeatsThree = await creditNote({
      invoice: c.invoice,
      outcome: "credit",
      lines: [{ line: c.line("seats"), quantity: 3 }],
    });
    expect(twoSeatsThree.json()).toMatchObject({
      code: "credit_note_exceeds_line",
      param: "lines.0.quantity",
    });
    const unknown = await creditNote({
      invoice: c.invoice,
      outcome: "credit",
      lines: [{ line: "il_0nope" }],
    });
    expect(unknown.json()).toMatchObject({ code: "unknown_invoice_line", param: "lines.0.line" });
    const rest = (await creditNote({ invoice: c.invoice, outcome: "credit", amount: 7_900 })).json();
    expect(rest).toMatchObject({ status: "issued", amount: 7_900 });
    // refused requests took no number: the two issued ones are consecutive
    expect(Number(rest.number.slice(-6))).toBe(Number(first.number.slice(-6)) + 1);
    expect((await creditNote({ invoice: c.invoice, outcome: "credit", amount: 1 })).json()).toMatchObject({
      code: "credit_note_exceeds_paid",
    });
    const listed = (await api.request("GET", `/v1/credit_notes?invoice=${c.invoice}`)).json();
    expect(listed.data.map((n: { id: string }) => n.id)).toEqual([rest.id, first.id]);
    expect(await refundedOn(c.payment)).toBe(24_900);
  });

  it("refunds only what the card paid: the part paid from the credit balance goes back to the balance", async () => {
    const c = await paidRenewal("2026-05-23T00:00:00Z", "2026-06-23T00:00:10Z");
    await creditNote({ invoice: c.invoice, outcome: "credit", amount: 30_000 });
    await renewAt(api, "2026-07-23T00:00:10Z");
    const [, next] = await invoicesOf(api, c.subscription);
    const paid = await invoiceJson(api, next?.id as string);
    expect(paid).toMatchObject({ credit_applied: 30_000, amount_paid: 2_800 });
    const tooMuch = await creditNote({ invoice: paid.id, outcome: "refund", amount: 2_801 });
    expect(tooMuch.statusCode).toBe(422);
    expect(tooMuch.json()).toMatchObject({ code: "credit_note_exceeds_refundable", param: "outcome" });
    expect((await creditNote({ invoice: paid.id, outcome: "refund", amount: 2_800 })).statusCode).toBe(201);
    expect((await creditNote({ invoice: paid.id, outcome: "credit", amount: 30_000 })).statusCode).toBe(201);
    expect(await refundedOn(paid.payment)).toBe(2_800);
  });

  it("a retry with the same Idempotency-Key refunds once; a gateway that failed is finished by the retry", async () => {
    const c = await paidRenewal("2026-07-24T00:00:00Z", "2026-08-24T00:00:10Z");
    const body = { invoice: c.invoice, outcome: "refund", amount: 1_000 };
    const first = await creditNote(body, "cn-retry-1");
    const again = await creditNote(body, "cn-retry-1");
    expect(first.statusCode, first.body).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(await refundedOn(c.payment)).toBe(1_000);

    // the gateway fails after the credit note is committed: 202, refund pending, no ledger yet
    const refund = api.gateway.refund;
    api.gateway.refund = async () => {
      throw new Error("gateway timeout");
    };
    let pending: { id: string; status: string };
    try {
      const response = await creditNote({ ...body, amount: 2_000 }, "cn-retry-2");
      expect(response.statusCode, response.body).toBe(202);
      pending = response.json();
      expect(pending.status).toBe("refund_pending");
      // a pending refund counts against what is left: 32,800 − 1,000 − 2,000
      expect(
        (await creditNote({ invoice: c.invoice, outcome: "credit", amount: 29_801 })).json(),
      ).toMatchObject({ code: "credit_note_exceeds_paid" });
    } finally {
      api.gateway.refund = refund;
    }
    const retried = await creditNote({ ...body, amount: 2_000 }, "cn-retry-2");
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.json()).toMatchObject({ id: pending.id, status: "issued" });
    expect(await refundedOn(c.payment)).toBe(3_000);
    // the recovery pass finds nothing left to refund, and asks the gateway nothing twice
    expect(await refundPendingCreditNotes(api.billing, { olderThanMs: 0 })).toEqual({
      refunded: 0,
      pending: 0,
    });
    expect(await refundedOn(c.payment)).toBe(3_000);
  });

  it("the recovery pass refunds a credit note left pending, exactly once", async () => {
    const c = await paidRenewal("2026-08-25T00:00:00Z", "2026-09-25T00:00:10Z");
    const refund = api.gateway.refund;
    api.gateway.refund = async () => {
      throw new Error("gateway down");
    };
    try {
      expect((await creditNote({ invoice: c.invoice, outcome: "refund", amount: 500 })).statusCode).toBe(202);
    } finally {
      api.gateway.refund = refund;
    }
    // a request may still be on its way to the gateway: the job leaves it alone for a minute
    expect(await refundPendingCreditNotes(api.billing)).toEqual({ refunded: 0, pending: 0 });
    api.clock.set("2026-09-25T00:01:10Z");
    expect(await runJobOnce(refundCreditNotesJob, api.billing)).toBe(
      "Refunded 1 credit note; 0 still pending.",
    );
    expect(await refundPendingCreditNotes(api.billing)).toEqual({ refunded: 0, pending: 0 });
    expect(await refundedOn(c.payment)).toBe(500);
    const [row] = await api.database.db
      .select()
      .from(creditNotes)
      .where(eq(creditNotes.invoiceId, c.invoice));
    expect(row).toMatchObject({ status: "issued", amount: 500 });
  });

  it("refuses a credit note on an open invoice and a draft; a paid invoice is not voided", async () => {
    api.clock.set("2026-09-26T00:00:00Z");
    const declining = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: "2026-09-26T00:00:00Z",
    });
    await renewAt(api, "2026-10-26T00:00:10Z");
    const [open] = await invoicesOf(api, declining.subscription);
    expect(open?.status).toBe("open");
    const onOpen = await creditNote({ invoice: open?.id, outcome: "credit", amount: 100 });
    expect(onOpen.statusCode).toBe(409);
    expect(onOpen.json()).toMatchObject({ code: "invoice_not_paid", param: "invoice" });

    const c = await paidRenewal("2026-10-26T00:00:00Z", "2026-11-26T00:00:10Z");
    const voidPaid = await api.request("POST", `/v1/invoices/${c.invoice}/void`, {});
    expect(voidPaid.statusCode).toBe(409);
    expect(voidPaid.json()).toMatchObject({ code: "invoice_paid", param: "id" });
    expect((await invoiceJson(api, c.invoice)).status).toBe("paid");

    api.clock.set("2026-12-26T00:00:05Z");
    const draft = await draftRenewal(api.billing, c.subscription, api.clock());
    expect(draft?.status).toBe("draft");
    const onDraft = await creditNote({ invoice: draft?.id, outcome: "credit", amount: 100 });
    expect(onDraft.statusCode).toBe(409);
    expect(onDraft.json()).toMatchObject({ code: "invoice_draft", param: "invoice" });
    const pdf = await api.request("GET", `/v1/invoices/${draft?.id}/pdf`);
    expect(pdf.statusCode).toBe(409);
    expect(pdf.json()).toMatchObject({ code: "invoice_draft" });
    expect(
      (await creditNote({ invoice: "inv_0missing", outcome: "credit", amount: 1 })).json(),
    ).toMatchObject({
      code: "resource_not_found",
      param: "invoice",
    });
    await renewAt(api, "2026-12-26T00:00:10Z"); // the draft is finalized and paid: the ledger reconciles
  });
});

describe("PDFs", () => {
  it("an invoice's PDF names the vendor, its number, lines and totals; the HTML view stays", async () => {
    const c = await paidRenewal("2026-12-27T00:00:00Z", "2027-01-27T00:00:10Z");
    const text = await pdfText(`/v1/invoices/${c.invoice}/pdf`);
    for (const expected of [
      "Acme Analytics Ltd",
      "1 Market Street",
      "London EC1A 1AA",
      "Tax ID: GB123456789",
      `Invoice ${c.number}`,
      "Pro plan (monthly)",
      "2 × Pro seat",
      "$249.00",
      "$328.00",
      "2027-01-27",
    ])
      expect(text).toContain(expected);
    expect((await invoiceJson(api, c.invoice)).pdf_url).toBe(`/v1/invoices/${c.invoice}/pdf`);
    const html = await api.request("GET", `/v1/invoices/${c.invoice}/html`);
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain(c.number);
  });

  it("a credit note's PDF names the vendor, its number, the invoice it credits and the amount", async () => {
    const c = await paidRenewal("2027-01-28T00:00:00Z", "2027-02-28T00:00:10Z");
    const note = (
      await creditNote({
        invoice: c.invoice,
        outcome: "credit",
        lines: [{ line: c.line("add_on:sso") }],
        memo: "SSO unused",
      })
    ).json();
    const text = await pdfText(note.pdf_url);
    for (const expected of [
      "Acme Analytics Ltd",
      "Tax ID: GB123456789",
      `Credit note ${note.number}`,
      c.number,
      "1 × SSO",
      "$49.00",
      "Credited to your balance",
      "SSO unused",
    ])
      expect(text).toContain(expected);
    const missing = await api.request("GET", "/v1/credit_notes/cn_0missing/pdf");
    expect(missing.statusCode).toBe(404);
  });
});

describe("credit notes on a checkout's invoice", () => {
  it("refunds the checkout's charge; two credit notes at once for the rest: one is issued, the other refused", async () => {
    api.clock.set("2027-03-01T00:00:00Z");
    const c = await customer(api, "pro", { seats: 12, billing_cycle_anchor: "2027-03-01T00:00:00Z" });
    api.clock.set("2027-03-16T00:00:00Z");
    const quote = (await api.request("POST", "/v1/quotes", { account: c.account, seats: 14 })).json();
    const done = await api.request("POST", "/v1/checkout", { quote: quote.id, member: c.admin });
    expect(done.statusCode, done.body).toBe(200);
    const invoice = await invoiceJson(api, done.json().invoice);
    expect(invoice).toMatchObject({ status: "paid", checkout: done.json().id });
    expect(invoice.amount_paid).toBeGreaterThan(0);
    const [line] = invoice.lines;

    const first = await creditNote({
      invoice: invoice.id,
      outcome: "refund",
      lines: [{ line: line.id, amount: 100 }],
    });
    expect(first.statusCode, first.body).toBe(201);
    expect(await refundedOn(invoice.payment)).toBe(100);

    const rest = invoice.amount_paid - 100;
    const raced = await Promise.all([
      creditNote({ invoice: invoice.id, outcome: "refund", amount: rest }),
      creditNote({ invoice: invoice.id, outcome: "credit", amount: rest }),
    ]);
    expect(raced.map((r) => r.statusCode).sort()).toEqual([201, 422]);
    expect(raced.find((r) => r.statusCode === 422)?.json()).toMatchObject({
      code: "credit_note_exceeds_paid",
    });
    const notes = (await api.request("GET", `/v1/credit_notes?account=${c.account}`)).json().data;
    expect(notes.reduce((s: number, n: { amount: number }) => s + n.amount, 0)).toBe(invoice.amount_paid);
    // the numbers of the two issued ones are consecutive: the refused one took none
    const sequences = notes
      .map((n: { number: string }) => Number(n.number.slice(-6)))
      .sort((a: number, b: number) => a - b);
    expect(sequences[1] - sequences[0]).toBe(1);
  });
});
