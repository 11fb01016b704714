import { describe, expect, it } from "vitest";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { liveSubscriptionOf, loadBillingState } from "../../src/services/quotes/billing-state.ts";
import { type BillingApi, customer, invoicesOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * A credit for unused time is capped at what the item was charged this period: the period's
 * opening, recorded when it began (its renewal's lines, or the full price of the shape it began
 * with when no invoice opened it), plus the proration lines of the invoices that stand.
 */
const api: BillingApi = useBillingApi();

async function historyOf(account: string) {
  const record = await liveSubscriptionOf(api.database.db, account, api.clock());
  return (await loadBillingState(api.database.db, record)).history;
}

describe("the period's charges behind the credit cap", () => {
  it("a renewed period's opening charge is its renewal line, counted once", async () => {
    const c = await customer(api, "pro", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      add_ons: [{ key: "sso" }],
    });
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      await renewSubscriptions(api.billing);
      expect(await historyOf(c.account)).toEqual({
        plan: { charged: 24_900, credited: 0 },
        seats: { charged: 0, credited: 0 },
        "add_on:sso": { charged: 4900, credited: 0 },
      });
      // a seat bought now adds its own line to what seats were charged
      const q = (await api.request("POST", "/v1/quotes", { account: c.account, seats: 11 })).json();
      expect((await api.request("POST", "/v1/checkout", { quote: q.id, member: c.admin })).statusCode).toBe(
        200,
      );
      const history = await historyOf(c.account);
      expect(history.plan).toEqual({ charged: 24_900, credited: 0 });
      expect(history.seats?.charged).toBe(q.amount_due);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("a voided renewal keeps the period it opened, and the opening it recorded", async () => {
    const c = await customer(api, "pro", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      token: "sandbox_insufficient_funds",
    });
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      await renewSubscriptions(api.billing);
      const [renewal] = await invoicesOf(api, c.subscription);
      expect(renewal?.status).toBe("open");
      expect((await api.request("POST", `/v1/invoices/${renewal?.id}/void`, {})).statusCode).toBe(200);
      // as renewals do (the period is not billed again), the opening stands as recorded
      expect(await historyOf(c.account)).toEqual({
        plan: { charged: 24_900, credited: 0 },
        seats: { charged: 0, credited: 0 },
      });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("a change by hand after the period began moves nothing: the opening is the shape it began with", async () => {
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z", seats: 7 });
    expect(
      (await api.request("PATCH", `/v1/subscriptions/${c.subscription}`, { seats: 12 })).statusCode,
    ).toBe(200);
    // 2 seats beyond the 5 included were charged in full when the period began, not the 7 held now
    expect((await historyOf(c.account)).seats).toEqual({ charged: 3000, credited: 0 });
  });
});
