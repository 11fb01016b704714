import {
  CreateCreditNoteInput,
  CreditNoteResponse,
  IdParams,
  ListCreditNotesQuery,
  listOf,
  NoQuery,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { billingOf } from "../../services/context.ts";
import {
  createCreditNote,
  creditNoteView,
  getCreditNote,
  listCreditNotes,
} from "../../services/credit-notes/credit-notes.ts";
import { creditNotePdf } from "../../services/documents/billing-pdfs.ts";
import type { VendorProfile } from "../../services/documents/vendor.ts";
import { idempotencyKeyOf } from "../plugins/idempotency.ts";
import { type RouteContext, respondClaimed, typed } from "../route-kit.ts";
import { sendPdf } from "./pdf-reply.ts";

/**
 * Credit notes on paid invoices (docs/credit-notes.md). Creating one may refund the card, so it is
 * answered as a payment is: the Idempotency-Key is claimed first, and a retry of a request that died
 * finds the credit note it made (by the key) and finishes its refund rather than making another.
 * 201 once issued; 202 while the refund is pending at the gateway.
 */
export function creditNoteRoutes(app: FastifyInstance, ctx: RouteContext, vendor: VendorProfile) {
  const billing = billingOf(ctx);
  const r = typed(app);

  r.post(
    "/v1/credit_notes",
    {
      schema: {
        tags: ["billing"],
        summary: "Credit a paid invoice, whole or in part: refunded to the card, or credited to the balance",
        body: CreateCreditNoteInput,
        response: { 201: CreditNoteResponse, 202: CreditNoteResponse },
      },
    },
    (request, reply) => {
      const key = idempotencyKeyOf(request);
      const requestKey = key === undefined ? null : `${request.caller.apiKeyId}/${key}`;
      return respondClaimed(ctx, request, reply, {
        effect: async () => {
          const note = await createCreditNote(billing, request.body, requestKey);
          return { status: note.status === "issued" ? 201 : 202, body: await creditNoteView(ctx.db, note) };
        },
      });
    },
  );

  r.get(
    "/v1/credit_notes",
    {
      schema: {
        tags: ["billing"],
        summary: "List credit notes, newest first",
        querystring: ListCreditNotesQuery,
        response: { 200: listOf(CreditNoteResponse) },
      },
    },
    (request) => listCreditNotes(ctx.db, request.query),
  );

  r.get(
    "/v1/credit_notes/:id",
    {
      schema: {
        tags: ["billing"],
        summary: "Retrieve a credit note",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: CreditNoteResponse },
      },
    },
    (request) => getCreditNote(ctx.db, request.params.id),
  );

  r.get(
    "/v1/credit_notes/:id/pdf",
    {
      schema: {
        tags: ["billing"],
        summary: "A credit note as a PDF",
        params: IdParams,
        querystring: NoQuery,
      },
    },
    async (request, reply) => sendPdf(reply, await creditNotePdf(ctx.db, vendor, request.params.id)),
  );
}
