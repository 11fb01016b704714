import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { invoices } from "../src/db/schema/index.ts";
import { renewSubscriptions } from "../src/services/renewals.ts";
import { type BillingApi, customer, useBillingApi } from "./billing-harness.ts";

/**
 * A period's renewal prices the subscription as it stands at the period's start. A checkout in the
 * first minute of a period, before the renewal job ran, drafts that renewal first (the shape before
 * the change) when its quote was frozen in the new period; a quote frozen in the last minutes of the
 * previous period belongs to that period, and the renewal drafted after it includes the change.
 * Pro: $249 a month with 10 seats included, $15 a seat beyond them.
 */
const api: BillingApi = useBillingApi();

const renewalsOf = (subscription: string) =>
  api.database.db
    .select()
    .from(invoices)
    .where(and(eq(invoices.subscriptionId, subscription), eq(invoices.billingReason, "subscription_cycle")))
    .orderBy(invoices.periodStart);
const invoiceJson = async (id: string) => (await api.request("GET", `/v1/invoices/${id}`)).json();
const linesOf = (view: { lines: Record<string, unknown>[] }) =>
  view.lines.map((l) => [l.item, l.quantity, l.amount, l.period_start, l.period_end]);
/** What the gateway collected from an account, smallest first. */
function chargedTo(account: string): number[] {
  const keys = new Set(
    api.sandbox.requests.filter((r) => r.metadata.account === account).map((r) => r.idempotencyKey),
  );
  return api.sandbox
    .collected()
    .filter((p) => keys.has(p.idempotencyKey))
    .map((p) => p.amount - p.refunded)
    .sort((a, b) => a - b);
}

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
      expect(chargedTo(c.account)).toEqual([1500, 24_900]);
      // and March renews with the 11 seats
      api.clock.set("2026-03-01T00:00:30Z");
      await renewSubscriptions(api.billing);
      const march = await invoiceJson(((await renewalsOf(c.subscription))[1]?.id as string) ?? "");
      expect(march).toMatchObject({ status: "paid", subtotal: 26_400 });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("a quote frozen in the last minutes of the previous period: the renewal drafted after it includes the change", async () => {
    api.clock.set("2026-01-17T00:00:00Z");
    const c = await customer(api, "pro", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    api.clock.set("2026-01-31T23:55:00Z");
    try {
      const quote = await api.request("POST", "/v1/quotes", { account: c.account, seats: 14 });
      expect(quote.statusCode, quote.body).toBe(201);
      api.clock.set("2026-02-01T00:00:30Z"); // checked out in February, before the renewal job ran
      const { checkout, invoice } = await checkOut(c.admin, quote.json().id);
      // 5 minutes of January's 31 days for 4 seats at $15: 0.67 cents, rounded once
      expect(linesOf(invoice)).toEqual([
        ["seats", 4, 1, "2026-01-31T23:55:00.000Z", "2026-02-01T00:00:00.000Z"],
      ]);
      expect(checkout.amount).toBe(1);
      expect(await renewalsOf(c.subscription)).toEqual([]);

      await renewSubscriptions(api.billing);
      const [renewal, ...more] = await renewalsOf(c.subscription);
      expect(more).toEqual([]);
      const view = await invoiceJson(renewal?.id as string);
      expect(view).toMatchObject({ status: "paid", subtotal: 30_900, amount_paid: 30_900 });
      expect(linesOf(view)).toEqual([
        ["plan", 1, 24_900, "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
        ["seats", 4, 6000, "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
      ]);
      expect(chargedTo(c.account)).toEqual([1, 30_900]);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });
});
