import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { gatewaySet } from "../../src/gateways/gateway.ts";
import { type SANDBOX_TEST_CARDS, SandboxGateway, sandboxCardToken } from "../../src/gateways/sandbox.ts";
import { type BillingApi, chargesFor, customer, useBillingApi } from "../support/billing-harness.ts";
import { authenticatedRequests } from "../support/harness.ts";

/**
 * The sandbox gateway keeps its payments in the database: Stripe's test cards give Stripe's
 * outcomes through the real checkout, and a payment begun before a restart (or on another node)
 * is found, completed and settled after it.
 */
const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };
type TestCard = keyof typeof SANDBOX_TEST_CARDS;

/** A Starter customer (5 seats) paying with `token`, who buys a sixth seat: $7.26 today. */
async function buySeat(token: string) {
  const c = await customer(api, "starter", { ...ANCHOR, token });
  const quote = (await api.request("POST", "/v1/quotes", { account: c.account, seats: 6 })).json();
  expect(quote.amount_due).toBe(726);
  const response = await api.request("POST", "/v1/checkout", { quote: quote.id, member: c.admin });
  const seats = async () => (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json().seats;
  return { ...c, response, seats };
}

/** Another node (or this one after a restart): a new gateway object and a new app on the same database. */
async function anotherNode() {
  const sandbox = new SandboxGateway(api.database.db);
  const app = await buildApp({
    db: api.database.db,
    clock: api.clock,
    logLevel: "silent",
    gateways: gatewaySet(sandbox),
  });
  return { sandbox, app, request: authenticatedRequests({ app, secret: api.secret }) };
}

describe("Stripe's test cards through the checkout API", () => {
  it("attaching a test card's token shows its brand, last four and expiry", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: sandboxCardToken("4000000000000069") });
    const [method] = (await api.request("GET", `/v1/accounts/${c.account}/payment_methods`)).json().data;
    expect(method).toMatchObject({
      gateway: "sandbox",
      brand: "visa",
      last4: "0069",
      exp_month: 1,
      exp_year: 2020,
    });
  });

  it("4242 4242 4242 4242 succeeds: one charge of $7.26, the seat bought", async () => {
    const c = await buySeat(sandboxCardToken("4242424242424242"));
    expect(c.response.statusCode, c.response.body).toBe(200);
    expect(c.response.json()).toMatchObject({ status: "succeeded", invoice: expect.stringMatching(/^inv_/) });
    expect((await chargesFor(api, c.account)).map((p) => p.amount)).toEqual([726]);
    expect(await c.seats()).toBe(6);
  });

  const declines: [TestCard, string, string][] = [
    ["4000000000009995", "insufficient_funds", "Your card has insufficient funds."],
    ["4000000000000069", "expired_card", "Your card has expired."],
    ["4000000000000119", "processing_error", "An error occurred while processing your card."],
  ];
  it.each(declines)(
    "%s is declined (%s): 402, nothing charged, nothing changed",
    async (number, reason, message) => {
      const c = await buySeat(sandboxCardToken(number));
      expect(c.response.statusCode, c.response.body).toBe(402);
      expect(c.response.json()).toMatchObject({ code: "payment_declined", param: "payment_method" });
      expect(c.response.json().detail).toContain(message);
      expect(c.response.json().detail).toContain(`(${reason})`);
      expect(await chargesFor(api, c.account)).toEqual([]);
      expect(await c.seats()).toBe(5);
    },
  );

  it.each<TestCard>(["4000002500003155", "4000000000003220"])(
    "%s asks for 3-D Secure: 202 with the next action; approved, the checkout completes",
    async (number) => {
      const c = await buySeat(sandboxCardToken(number));
      expect(c.response.statusCode).toBe(202);
      const pending = c.response.json();
      expect(pending).toMatchObject({ status: "requires_action", next_action: { type: "use_stripe_sdk" } });
      expect(await chargesFor(api, c.account)).toEqual([]);
      await api.sandbox.completeAction(pending.payment);
      const done = await api.request("POST", `/v1/checkouts/${pending.id}/confirm`, {});
      expect(done.json()).toMatchObject({ status: "succeeded" });
      expect((await chargesFor(api, c.account)).map((p) => p.amount)).toEqual([726]);
      expect(await c.seats()).toBe(6);
    },
  );

  it("a charge whose answer times out after it went through ends with one charge and the seat bought", async () => {
    const c = await buySeat("sandbox_timeout_after_charge");
    expect(c.response.json()).toMatchObject({ status: "succeeded" });
    const keys = api.sandbox.requests
      .filter((r) => r.metadata.account === c.account)
      .map((r) => r.idempotencyKey);
    expect(keys.length).toBeGreaterThan(1);
    expect(new Set(keys).size).toBe(1);
    expect((await chargesFor(api, c.account)).map((p) => p.amount)).toEqual([726]);
    expect(await c.seats()).toBe(6);
  });

  it("a card number is still refused as a token: the test card's token stands for it", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const response = await api.request("POST", `/v1/accounts/${c.account}/payment_methods`, {
      token: "4000000000009995",
    });
    expect(response.json()).toMatchObject({ code: "card_number_not_accepted", param: "token" });
  });
});

describe("a restart forgets nothing", () => {
  it("3-D Secure begun before a restart is approved and confirmed on a new gateway and app", async () => {
    const c = await buySeat(sandboxCardToken("4000000000003220"));
    const pending = c.response.json();
    expect(pending.status).toBe("requires_action");
    const node = await anotherNode();
    try {
      expect(await node.sandbox.retrieve(pending.payment)).toMatchObject({ status: "requires_action" });
      await node.sandbox.completeAction(pending.payment);
      const done = await node.request("POST", `/v1/checkouts/${pending.id}/confirm`, {});
      expect(done.json()).toMatchObject({ status: "succeeded", invoice: expect.stringMatching(/^inv_/) });
      expect(await c.seats()).toBe(6);
      // the first node sees the same payment, settled once
      expect(await api.sandbox.retrieve(pending.payment)).toEqual({
        status: "succeeded",
        paymentId: pending.payment,
      });
      expect((await chargesFor(api, c.account)).map((p) => p.amount)).toEqual([726]);
    } finally {
      await node.app.close();
    }
  });

  it("a charge's key, a refund's key and a completed action hold across gateway objects", async () => {
    const first = new SandboxGateway(api.database.db);
    const second = new SandboxGateway(api.database.db);
    const request = {
      amount: 1234,
      currency: "usd",
      paymentMethod: { token: "sandbox_visa", customerRef: null },
      idempotencyKey: `restart_${Date.now()}`,
      description: "a restart",
      metadata: {},
    };
    const charged = await first.charge(request);
    expect(charged.status).toBe("succeeded");
    expect(await second.charge(request)).toEqual(charged);
    await expect(second.charge({ ...request, amount: 999 })).rejects.toThrow(/reused with other parameters/);
    const refundKey = `${request.idempotencyKey}_refund`;
    const refunded = await first.refund({
      paymentId: charged.paymentId as string,
      amount: 1234,
      idempotencyKey: refundKey,
    });
    expect(
      await second.refund({
        paymentId: charged.paymentId as string,
        amount: 1234,
        idempotencyKey: refundKey,
      }),
    ).toEqual(refunded);
    await expect(
      second.refund({ paymentId: charged.paymentId as string, amount: 1, idempotencyKey: `${refundKey}_2` }),
    ).rejects.toThrow(/to refund/);
    const payment = (await second.collected()).find((p) => p.id === charged.paymentId);
    expect(payment).toMatchObject({ amount: 1234, refunded: 1234 });
    // refunded in full, it adds nothing to what the ledger's cash is compared with (afterEach)
  });
});
