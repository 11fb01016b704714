import {
  AttachPaymentMethodInput,
  CheckoutInput,
  CheckoutResponse,
  CreateQuoteInput,
  EmptyBody,
  IdParams,
  InvoiceResponse,
  ListInvoicesQuery,
  listOf,
  NoQuery,
  PaymentMethodParams,
  PaymentMethodResponse,
  PreviewInviteInput,
  QuoteResponse,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import type { ZodType } from "zod";
import type { Gateways } from "../../gateways/gateway.ts";
import { previewInvite } from "../../services/accounts/seat-invites.ts";
import { confirmCheckout, getCheckout, runCheckout } from "../../services/checkout/index.ts";
import { attachBilling, type BillingContext } from "../../services/context.ts";
import { getInvoice, INVOICE_HTML_CSP, invoiceHtml, listInvoices } from "../../services/invoices/issue.ts";
import { accountLedger } from "../../services/ledger/ledger.ts";
import type { MeteringState } from "../../services/metering/metering-state.ts";
import {
  attachPaymentMethod,
  detachPaymentMethod,
  listPaymentMethods,
} from "../../services/payments/payment-methods.ts";
import { createQuote, createQuoteJson, getQuote, quoteDesk } from "../../services/quotes/quotes.ts";
import { accountTimesOf } from "../../services/test-clocks/account-time.ts";
import { compiledSerializer } from "../plugins/fast-serializer.ts";
import { skipCatchUp } from "../plugins/read-your-writes.ts";
import { type RouteContext, respondClaimed, respondIdempotent, typed } from "../route-kit.ts";
import { checkoutResponse } from "./checkout-response.ts";

/** The options of a GET of one resource by its id, answered as `response` (no query parameters). */
const readOne = <R extends ZodType>(summary: string, response: R) => ({
  schema: { tags: ["billing"], summary, params: IdParams, querystring: NoQuery, response: { 200: response } },
});

/** …of something read off one resource (its HTML, its ledger), by the resource's id. */
const readOf = (summary: string) => ({
  schema: { tags: ["billing"], summary, params: IdParams, querystring: NoQuery },
});

/**
 * The billing API: quotes, checkout, payment methods, invoices, the ledger and the seat-invite
 * preview. Handlers are thin: each calls one service.
 */
export function billingRoutes(
  app: FastifyInstance,
  ctx: RouteContext,
  metering: MeteringState,
  gateways?: Gateways,
) {
  const billing = attachBilling(ctx, gateways);
  const times = accountTimesOf(ctx);
  // Quotes are priced from memory; the domain-event watcher keeps that memory fresh.
  const desk = quoteDesk(ctx.db);
  metering.subscribe((change) =>
    "all" in change ? desk.setups.invalidateAll() : desk.setups.invalidate(change.accounts),
  );
  const r = typed(app);

  r.post(
    "/v1/quotes",
    {
      schema: {
        tags: ["billing"],
        summary: "Preview a change: lines, amount due now, new recurring amount",
        body: CreateQuoteInput,
        response: { 201: QuoteResponse },
      },
      // a hot route: serialized by fast-json-stringify from the same schema
      serializerCompiler: compiledSerializer,
    },
    async (request, reply) => {
      // A quote writes no domain event: nothing for the read-your-writes poll to catch up on. (A due
      // scheduled change it applies first is picked up by the regular outbox poll within 100 ms.)
      skipCatchUp(request);
      // an account on a test clock is quoted at the clock's time (remembered: no query for others)
      const at = await times.of(ctx.db, request.body.account, ctx.clock());
      // Without an Idempotency-Key there is nothing to record with the quote: its reads need no
      // transaction and its one insert is atomic on its own (a due scheduled change is applied in a
      // transaction of its own first).
      // The answer is JSON text already (createQuoteJson): Fastify sends a string with a JSON
      // content type as it is, which the schema's typing cannot say.
      if (request.headers["idempotency-key"] === undefined)
        return reply
          .code(201)
          .type("application/json; charset=utf-8")
          .send((await createQuoteJson(ctx.db, request.body, at, desk)) as never);
      return respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await createQuote(tx, request.body, at),
      }));
    },
  );
  r.get("/v1/quotes/:id", readOne("Retrieve a quote", QuoteResponse), (request) =>
    getQuote(ctx.db, request.params.id, ctx.clock()),
  );

  r.post(
    "/v1/checkout",
    {
      schema: {
        tags: ["billing"],
        summary:
          "Apply a quote: charge the stored payment method, change the subscription, issue the paid invoice",
        body: CheckoutInput,
        response: { 200: CheckoutResponse, 202: CheckoutResponse },
      },
    },
    (request, reply) =>
      respondClaimed(ctx, request, reply, {
        effect: async (resumed) => {
          const now = ctx.clock();
          const at = await times.ofQuote(ctx.db, request.body.quote, now);
          const row = await runCheckout(at === now ? billing : atTime(billing, at), request.body, resumed);
          // A checkout changes the subscription in this process, so the entitlement cache (and the
          // quote desk that listens to it) drops the account as soon as the checkout is settled,
          // instead of reading the domain-event log before answering; other nodes see it within a poll.
          skipCatchUp(request);
          metering.invalidate([row.accountId]);
          return checkoutResponse(row);
        },
      }),
  );
  r.get("/v1/checkouts/:id", readOne("Retrieve a checkout", CheckoutResponse), (request) =>
    getCheckout(ctx.db, request.params.id),
  );
  r.post(
    "/v1/checkouts/:id/confirm",
    {
      schema: {
        tags: ["billing"],
        summary: "Complete a checkout after the customer's authentication (3-D Secure)",
        params: IdParams,
        body: EmptyBody,
        response: { 200: CheckoutResponse, 202: CheckoutResponse },
      },
    },
    (request, reply) =>
      respondClaimed(ctx, request, reply, {
        effect: async () => {
          await getCheckout(ctx.db, request.params.id);
          const now = ctx.clock();
          const at = await times.ofCheckout(ctx.db, request.params.id, now);
          return checkoutResponse(
            await confirmCheckout(at === now ? billing : atTime(billing, at), request.params.id),
          );
        },
      }),
  );

  r.post(
    "/v1/accounts/:id/payment_methods",
    {
      schema: {
        tags: ["billing"],
        summary: "Store a gateway token as a payment method (never a card number)",
        params: IdParams,
        body: AttachPaymentMethodInput,
        response: { 201: PaymentMethodResponse },
      },
    },
    async (request, reply) => {
      const at = await times.of(ctx.db, request.params.id, ctx.clock());
      return respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await attachPaymentMethod(tx, billing, request.params.id, request.body, at),
      }));
    },
  );
  r.get(
    "/v1/accounts/:id/payment_methods",
    readOne("List an account's payment methods", listOf(PaymentMethodResponse)),
    (request) => listPaymentMethods(ctx.db, request.params.id),
  );
  r.delete(
    "/v1/accounts/:id/payment_methods/:payment_method",
    {
      schema: {
        tags: ["billing"],
        summary: "Detach a payment method",
        params: PaymentMethodParams,
        response: { 200: PaymentMethodResponse },
      },
    },
    (request) =>
      ctx.db.transaction((tx) =>
        detachPaymentMethod(tx, request.params.id, request.params.payment_method, ctx.clock()),
      ),
  );

  r.post(
    "/v1/accounts/:id/members/preview",
    {
      schema: {
        tags: ["members"],
        summary: "Say whether inviting this person needs another paid seat, with its quote",
        params: IdParams,
        body: PreviewInviteInput,
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await previewInvite(tx, request.params.id, request.body, ctx.clock()),
      })),
  );

  r.get(
    "/v1/invoices",
    {
      schema: {
        tags: ["billing"],
        summary: "List invoices, newest first",
        querystring: ListInvoicesQuery,
        response: { 200: listOf(InvoiceResponse) },
      },
    },
    (request) => listInvoices(ctx.db, request.query),
  );
  r.get("/v1/invoices/:id", readOne("Retrieve an invoice", InvoiceResponse), (request) =>
    getInvoice(ctx.db, request.params.id),
  );
  r.get("/v1/invoices/:id/html", readOf("A printable HTML invoice"), async (request, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", INVOICE_HTML_CSP)
      .header("x-content-type-options", "nosniff")
      .send(await invoiceHtml(ctx.db, request.params.id)),
  );
  r.get("/v1/accounts/:id/ledger", readOf("An account's ledger: balances and entries"), (request) =>
    accountLedger(ctx.db, request.params.id),
  );
}

/** The billing context as of an account's test-clock time. */
const atTime = (billing: BillingContext, at: Date): BillingContext => ({ ...billing, clock: () => at });
