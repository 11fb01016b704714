import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayUnavailableError } from "../../src/gateways/gateway.ts";
import { StripeGateway } from "../../src/gateways/stripe.ts";

/**
 * The Stripe adapter runs the official SDK against a local stub of the Stripe endpoints it calls
 * (the SDK's host/port/protocol settings), asserting the exact requests it sends.
 */
interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  form: Record<string, string>;
}
const seen: Seen[] = [];
let reply: (request: Seen) => { status: number; body: unknown } = () => ({ status: 500, body: {} });
let server: Server;
let gateway: StripeGateway;

const intent = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "pi_123",
  object: "payment_intent",
  amount: 726,
  currency: "usd",
  status,
  client_secret: "pi_123_secret_abc",
  next_action: null,
  last_payment_error: null,
  ...extra,
});

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const request: Seen = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        form: Object.fromEntries(new URLSearchParams(body)),
      };
      seen.push(request);
      const { status, body: out } = reply(request);
      res.writeHead(status, { "content-type": "application/json", "request-id": "req_stub" });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  gateway = new StripeGateway({
    secretKey: "sk_test_stub",
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    protocol: "http",
    timeoutMs: 2000,
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const charge = () =>
  gateway.charge({
    amount: 726,
    currency: "usd",
    paymentMethod: { token: "pm_card_visa", customerRef: "cus_42" },
    idempotencyKey: "uptier_co_01ABC",
    description: "Uptier checkout co_01ABC (quote qt_01XYZ)",
    metadata: { checkout: "co_01ABC", quote: "qt_01XYZ", account: "acct_01" },
  });

describe("StripeGateway through the official SDK", () => {
  it("creates an off-session PaymentIntent, confirmed at once, with our idempotency key", async () => {
    seen.length = 0;
    reply = () => ({ status: 200, body: intent("succeeded") });
    expect(await charge()).toEqual({ status: "succeeded", paymentId: "pi_123" });
    expect(seen).toHaveLength(1);
    const [request] = seen as [Seen];
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1/payment_intents");
    expect(request.headers.authorization).toBe("Bearer sk_test_stub");
    expect(request.headers["idempotency-key"]).toBe("uptier_co_01ABC");
    expect(request.form).toEqual({
      amount: "726",
      currency: "usd",
      payment_method: "pm_card_visa",
      customer: "cus_42",
      off_session: "true",
      confirm: "true",
      description: "Uptier checkout co_01ABC (quote qt_01XYZ)",
      "metadata[checkout]": "co_01ABC",
      "metadata[quote]": "qt_01XYZ",
      "metadata[account]": "acct_01",
    });
  });

  it("answers a card decline with the issuer's reason", async () => {
    reply = () => ({
      status: 402,
      body: {
        error: {
          type: "card_error",
          code: "card_declined",
          decline_code: "insufficient_funds",
          message: "Your card has insufficient funds.",
          payment_intent: intent("requires_payment_method"),
        },
      },
    });
    expect(await charge()).toEqual({
      status: "declined",
      paymentId: "pi_123",
      code: "card_declined",
      declineCode: "insufficient_funds",
      message: "Your card has insufficient funds.",
    });
  });

  it("turns authentication_required into what the browser needs", async () => {
    reply = () => ({
      status: 402,
      body: {
        error: {
          type: "card_error",
          code: "authentication_required",
          message: "This payment requires authentication.",
          payment_intent: intent("requires_payment_method"),
        },
      },
    });
    expect(await charge()).toEqual({
      status: "requires_action",
      paymentId: "pi_123",
      nextAction: { type: "use_stripe_sdk", clientSecret: "pi_123_secret_abc", url: null },
    });
  });

  it("reports a 5xx or a dropped connection as an unknown outcome, without retrying on its own", async () => {
    seen.length = 0;
    reply = () => ({ status: 500, body: { error: { type: "api_error", message: "boom" } } });
    await expect(charge()).rejects.toBeInstanceOf(GatewayUnavailableError);
    expect(seen).toHaveLength(1);
  });

  it("retrieves, refunds and cancels with the right requests", async () => {
    seen.length = 0;
    reply = (r) =>
      r.path.startsWith("/v1/refunds")
        ? { status: 200, body: { id: "re_1", object: "refund" } }
        : { status: 200, body: intent(r.path.endsWith("/cancel") ? "canceled" : "succeeded") };
    expect(await gateway.retrieve("pi_123")).toEqual({ status: "succeeded", paymentId: "pi_123" });
    expect(
      await gateway.refund({ paymentId: "pi_123", amount: 726, idempotencyKey: "uptier_co_01ABC_refund" }),
    ).toEqual({
      refundId: "re_1",
    });
    await gateway.cancel("pi_123", "uptier_co_01ABC_cancel");
    expect(seen.map((s) => [s.method, s.path, s.headers["idempotency-key"] ?? null, s.form])).toEqual([
      ["GET", "/v1/payment_intents/pi_123", null, {}],
      ["POST", "/v1/refunds", "uptier_co_01ABC_refund", { payment_intent: "pi_123", amount: "726" }],
      ["POST", "/v1/payment_intents/pi_123/cancel", "uptier_co_01ABC_cancel", {}],
    ]);
  });
});
