import { EmptyBody, IdParams, InvoiceResponse, NoQuery, PayInvoiceInput } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { billingOf } from "../../services/context.ts";
import { invoicePdf } from "../../services/documents/billing-pdfs.ts";
import type { VendorProfile } from "../../services/documents/vendor.ts";
import { markUncollectible, voidInvoice } from "../../services/invoices/actions.ts";
import { attemptsOf, collectInvoice, resumePendingAttempt } from "../../services/invoices/collection.ts";
import { getInvoice } from "../../services/invoices/issue.ts";
import { ApiError } from "../problem.ts";
import { type RouteContext, respondClaimed, respondIdempotent, typed } from "../route-kit.ts";
import { sendPdf } from "./pdf-reply.ts";

/**
 * Invoice actions (Stripe's names): pay an open (or uncollectible) invoice now, void an open one,
 * mark an open one uncollectible; and its payment attempts. Each answers a wrong state with
 * `invoice_not_open` (409), a paid invoice with `invoice_paid` (a credit note is the way). Its PDF
 * (a draft has none: `invoice_draft`). Handlers are thin.
 */
export function invoiceRoutes(app: FastifyInstance, ctx: RouteContext, vendor: VendorProfile) {
  const billing = billingOf(ctx);
  const r = typed(app);

  r.post(
    "/v1/invoices/:id/pay",
    {
      schema: {
        tags: ["billing"],
        summary:
          "Attempt to collect an open or uncollectible invoice now, on the default or a given payment method",
        params: IdParams,
        body: PayInvoiceInput,
        response: { 200: InvoiceResponse, 202: InvoiceResponse },
      },
    },
    (request, reply) => {
      const { id } = request.params;
      return respondClaimed(ctx, request, reply, {
        effect: async (resumed) => {
          const before = await getInvoice(ctx.db, id);
          // The retry of a run that ended without an answer finishes that run's attempt, or answers
          // the invoice it paid, rather than charging again.
          let attempt = resumed ? await resumePendingAttempt(billing, id) : null;
          if (!attempt && !(resumed && before.status === "paid"))
            ({ attempt } = await collectInvoice(billing, id, {
              trigger: "manual",
              paymentMethodId: request.body.payment_method,
            }));
          const invoice = await getInvoice(ctx.db, id);
          if (attempt?.status === "failed")
            throw new ApiError(
              402,
              "payment_declined",
              `The payment was declined: ${attempt.failureMessage ?? "no reason given"} (${attempt.failureCode}). The invoice is still ${invoice.status}.`,
              { param: "payment_method" },
            );
          return { status: invoice.status === "paid" ? 200 : 202, body: invoice };
        },
      });
    },
  );

  r.post(
    "/v1/invoices/:id/void",
    {
      schema: {
        tags: ["billing"],
        summary: "Void an open invoice (its ledger posting is reversed; nothing is collected)",
        params: IdParams,
        body: EmptyBody,
        response: { 200: InvoiceResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => {
        await voidInvoice(tx, request.params.id, ctx.clock());
        return { status: 200, body: await getInvoice(tx, request.params.id) };
      }),
  );

  r.post(
    "/v1/invoices/:id/mark_uncollectible",
    {
      schema: {
        tags: ["billing"],
        summary: "Write off an open invoice as bad debt; the subscription stays active",
        params: IdParams,
        body: EmptyBody,
        response: { 200: InvoiceResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => {
        await markUncollectible(tx, request.params.id, ctx.clock());
        return { status: 200, body: await getInvoice(tx, request.params.id) };
      }),
  );

  r.get(
    "/v1/invoices/:id/pdf",
    {
      schema: {
        tags: ["billing"],
        summary: "A finalized invoice as a PDF, with the vendor's name, address and tax id",
        params: IdParams,
        querystring: NoQuery,
      },
    },
    async (request, reply) => sendPdf(reply, await invoicePdf(ctx.db, vendor, request.params.id)),
  );

  r.get(
    "/v1/invoices/:id/payments",
    {
      schema: {
        tags: ["billing"],
        summary: "An invoice's payment attempts, oldest first",
        params: IdParams,
        querystring: NoQuery,
      },
    },
    async (request) => {
      await getInvoice(ctx.db, request.params.id);
      const rows = await attemptsOf(billing, [request.params.id]);
      return {
        object: "list" as const,
        data: rows.map((p) => ({
          id: p.id,
          object: "invoice_payment" as const,
          invoice: p.invoiceId,
          attempt: p.attempt,
          trigger: p.trigger as "automatic" | "manual",
          status: p.status as "pending" | "succeeded" | "failed",
          amount: p.amount,
          currency: p.currency,
          payment_method: p.paymentMethodId,
          payment: p.gatewayPaymentId,
          failure: p.failureCode ? { code: p.failureCode, message: p.failureMessage ?? "" } : null,
          created: p.createdAt.toISOString(),
          completed_at: p.completedAt?.toISOString() ?? null,
        })),
      };
    },
  );
}
