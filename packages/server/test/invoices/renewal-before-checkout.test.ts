import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { checkouts } from "../../src/db/schema/index.ts";
import { recoverCheckouts } from "../../src/services/checkout/index.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  invoiceJson as invoiceJsonOf,
  invoicesOf,
  ProcessCrash,
  renewAt as renewAtOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * A period's renewal prices the subscription as it stands at the period's start. A checkout in the
 * first minute of a period, before the renewal job ran, drafts that renewal first (the shape before
 * the change) when its quote was frozen in the new period. A quote frozen in an earlier period is
 * never applied once that period has ended (below).
 * Pro: $249 a month with 10 seats included, $15 a seat beyond them.
 */
const api: BillingApi = useBillingApi();

const renewalsOf = (subscription: string) => invoicesOf(api, subscription);
const invoiceJson = (id: string) => invoiceJsonOf(api, id);
const linesOf = (view: { lines: Record<string, unknown>[] }) =>
  view.lines.map((l) => [l.item, l.quantity, l.amount, l.period_start, l.period_end]);
/** What the gateway collected from an account, smallest first. */
async function chargedTo(account: string): Promise<number[]> {
  const keys = new Set(
    api.sandbox.requests.filter((r) => r.metadata.account === account).map((r) => r.idempotencyKey),
  );
  return (await api.sandbox.collected())
    .filter((p) => keys.has(p.idempotencyKey))
    .map((p) => p.amount - p.refunded)
    .sort((a, b) => a - b);
}

const renewAt = (iso: string) => renewAtOf(api, iso);

async function checkOut(admin: string, quote: string) {
  const response = await api.request("POST", "/v1/checkout", { quote, member: admin });
  expect(response.statusCode, response.body).toBe(200);
  const checkout = response.json();
  expect(checkout.status).toBe("succeeded");
  return { checkout, invoice: await invoiceJson(checkout.invoice) };
}

describe("a checkout before the period's renewal was drafted", () => {
  it("a quote frozen in the new period: the renewal charges the old seats, the checkout the added one", async () => {
    api.clock.set("2026-01-17T00:00:00Z");
    const c = await customer(api, "pro", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    api.clock.set("2026-02-01T00:00:30Z"); // the renewal job has not run yet
    try {
      const quote = await api.request("POST", "/v1/quotes", { account: c.account, seats: 11 });
      expect(quote.statusCode, quote.body).toBe(201);
      // 28 days less 30 s of a $15 seat: $14.9998…, rounded once
      expect(quote.json().amount_due).toBe(1500);
      const { checkout, invoice } = await checkOut(c.admin, quote.json().id);
      expect(linesOf(invoice)).toEqual([
        ["seats", 1, 1500, "2026-02-01T00:00:30.000Z", "2026-03-01T00:00:00.000Z"],
      ]);
      // the checkout drafted the renewal first, with the seats before the change
      const [drafted, ...none] = await renewalsOf(c.subscription);
      expect(none).toEqual([]);
      expect(drafted).toMatchObject({ status: "draft", subtotal: 24_900 });

      await renewSubscriptions(api.billing);
      const [renewal, ...more] = await renewalsOf(c.subscription);
      expect(more).toEqual([]);
      const view = await invoiceJson(renewal?.id as string);
      expect(view).toMatchObject({
        status: "paid",
        subtotal: 24_900,
        amount_paid: 24_900,
        period_start: "2026-02-01T00:00:00.000Z",
      });
      expect(linesOf(view)).toEqual([
        ["plan", 1, 24_900, "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
      ]);
      // February costs the old recurring amount plus the prorated seat, the seat charged once
      expect(checkout.amount).toBe(1500);
      expect(await chargedTo(c.account)).toEqual([1500, 24_900]);
      // and March renews with the 11 seats
      api.clock.set("2026-03-01T00:00:30Z");
      await renewSubscriptions(api.billing);
      const march = await invoiceJson(((await renewalsOf(c.subscription))[1]?.id as string) ?? "");
      expect(march).toMatchObject({ status: "paid", subtotal: 26_400 });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });
});

/**
 * A quote prices its change for the rest of the period containing its frozen instant; the next
 * period's renewal bills the subscription as it stands when it is drafted. A change from a quote of
 * period P applied after P's end would be billed for P's last minutes only, and not at all for
 * P + 1 if P + 1's renewal was drafted first (with the seats before the change). So a quote is
 * applied only while its period lasts and before the next period is billed: refused before the
 * charge (nothing charged), given back after it.
 */
describe("a quote frozen in a period that ended before its checkout", () => {
  // Pro at 10 seats, anchored on Jan 1; a quote for 14 seats (4 added) made at 22:00 on Jan 31:
  // 2 hours of January's 31 days for 4 seats at $15 = 16.13 cents, rounded once to 16.
  async function lateQuote() {
    api.clock.set("2026-01-17T00:00:00Z");
    const c = await customer(api, "pro", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    api.clock.set("2026-01-31T22:00:00Z");
    const quote = await api.request("POST", "/v1/quotes", {
      account: c.account,
      seats: 14,
      expires_in: 6 * 3600,
    });
    expect(quote.statusCode, quote.body).toBe(201);
    expect(quote.json().amount_due).toBe(16);
    return { ...c, quote: quote.json().id as string };
  }
  /** The late quote's checkout a minute before the period ends, the gateway's yes lost (the process died). */
  async function lostCheckout(c: { quote: string; admin: string }) {
    api.clock.set("2026-01-31T23:59:00Z");
    api.gateway.afterCharge = () => {
      throw new ProcessCrash("the gateway's yes is lost");
    };
    await api.request("POST", "/v1/checkout", { quote: c.quote, member: c.admin });
    api.gateway.afterCharge = null;
  }
  const seatsOf = async (subscription: string) =>
    (await api.request("GET", `/v1/subscriptions/${subscription}`)).json().seats;

  it("the next period's renewal drafted first: the checkout is refused (quote_stale) and nothing is charged", async () => {
    const c = await lateQuote();
    try {
      await renewAt("2026-02-01T00:00:10Z"); // February renews with the 10 seats
      api.clock.set("2026-02-01T00:01:00Z");
      const refused = await api.request("POST", "/v1/checkout", { quote: c.quote, member: c.admin });
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.headers["content-type"]).toMatch(/application\/problem\+json/);
      expect(refused.json()).toMatchObject({ code: "quote_stale", param: "quote" });
      expect(refused.json().detail).toContain("2026-02-01T00:00:00.000Z");
      expect(await seatsOf(c.subscription)).toBe(10);
      expect(await chargedTo(c.account)).toEqual([24_900]);

      // a new quote prices the 4 seats for February (28 days less a minute: 5,999.85 cents)
      const fresh = await api.request("POST", "/v1/quotes", { account: c.account, seats: 14 });
      expect(fresh.json().amount_due).toBe(6000);
      const { checkout } = await checkOut(c.admin, fresh.json().id);
      expect(checkout.amount).toBe(6000);
      expect(await chargedTo(c.account)).toEqual([6000, 24_900]);
      const march = await renewAt("2026-03-01T00:00:10Z");
      expect(march.renewed).toBeGreaterThan(0);
      const [, marchRenewal] = await renewalsOf(c.subscription);
      expect(marchRenewal).toMatchObject({ status: "paid", subtotal: 30_900 });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("the period ended before the renewal job ran: refused all the same, so the outcome never depends on the job's timing", async () => {
    const c = await lateQuote();
    try {
      api.clock.set("2026-02-01T00:00:30Z");
      const refused = await api.request("POST", "/v1/checkout", { quote: c.quote, member: c.admin });
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.json()).toMatchObject({ code: "quote_stale" });
      // nothing drafted, charged or changed by the refusal
      expect(await renewalsOf(c.subscription)).toEqual([]);
      expect(await seatsOf(c.subscription)).toBe(10);
      expect(api.sandbox.requests.filter((r) => r.metadata.account === c.account)).toEqual([]);
      await renewSubscriptions(api.billing);
      expect(await chargedTo(c.account)).toEqual([24_900]);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("begun in the period, completed after the next renewal was drafted: the charge is given back", async () => {
    const c = await lateQuote();
    try {
      api.clock.set("2026-01-31T23:59:00Z");
      api.gateway.afterCharge = () => {
        throw new ProcessCrash("the gateway's yes is lost");
      };
      expect(
        (await api.request("POST", "/v1/checkout", { quote: c.quote, member: c.admin })).statusCode,
      ).toBe(500);
      api.gateway.afterCharge = null;
      expect(await chargedTo(c.account)).toEqual([16]);
      await renewAt("2026-02-01T00:00:10Z"); // February renews with the 10 seats
      api.clock.set("2026-02-01T00:02:00Z");
      expect(await recoverCheckouts(api.billing)).toMatchObject({ refunded: 1, completed: 0 });
      const [row] = await api.database.db.select().from(checkouts).where(eq(checkouts.quoteId, c.quote));
      expect(row).toMatchObject({ status: "refunded", failureCode: "quote_stale", invoiceId: null });
      expect(await seatsOf(c.subscription)).toBe(10);
      expect(await chargedTo(c.account)).toEqual([0, 24_900]);
    } finally {
      api.gateway.afterCharge = null;
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("begun in the period, completed after its end before the renewal job ran: given back too", async () => {
    const c = await lateQuote();
    try {
      await lostCheckout(c);
      api.clock.set("2026-02-01T00:00:30Z");
      expect(await recoverCheckouts(api.billing, { olderThanMs: 0 })).toMatchObject({ refunded: 1 });
      expect(await seatsOf(c.subscription)).toBe(10);
      await renewSubscriptions(api.billing);
      expect(await chargedTo(c.account)).toEqual([0, 24_900]);
    } finally {
      api.gateway.afterCharge = null;
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("completed inside the period by its own clock after a node whose clock is ahead drafted the next renewal: given back", async () => {
    const c = await lateQuote();
    try {
      await lostCheckout(c);
      // another node, its clock 40 s ahead, renews February with the 10 seats
      await renewSubscriptions({ ...api.billing, clock: () => new Date("2026-02-01T00:00:10Z") });
      expect((await renewalsOf(c.subscription)).map((r) => r.subtotal)).toEqual([24_900]);
      api.clock.set("2026-01-31T23:59:30Z");
      expect(await recoverCheckouts(api.billing, { olderThanMs: 0 })).toMatchObject({ refunded: 1 });
      expect(await seatsOf(c.subscription)).toBe(10);
      expect(await chargedTo(c.account)).toEqual([0, 24_900]);
    } finally {
      api.gateway.afterCharge = null;
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });
});
