import type { FastifyReply } from "fastify";
import type { BillingPdf } from "../../services/documents/billing-pdfs.ts";

/** A PDF answered inline, named by the document's number. */
export const sendPdf = (reply: FastifyReply, { number, pdf }: BillingPdf) =>
  reply
    .type("application/pdf")
    .header("content-disposition", `inline; filename="${number.replace(/[^A-Za-z0-9._-]/g, "_")}.pdf"`)
    .header("x-content-type-options", "nosniff")
    .send(pdf);
