import { describe, expect, it } from "vitest";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { type BillingApi, customer, invoicesOf, useBillingApi } from "../support/billing-harness.ts";

/**
 * The credit balance is spent first at renewal. The catalog credits downgrades at once
 * (`policies.downgrades: immediate_with_credit`), so a mid-period downgrade leaves the account a
 * credit that the next renewal takes before the card is charged.
 */
const api: BillingApi = useBillingApi({
  catalog: (doc) => ({ ...doc, policies: { downgrades: "immediate_with_credit" } }),
});

describe("credit balance at renewal", () => {
  it("Pro → Starter on Jan 17 credits the unused Pro time; the Feb 1 renewal spends it, the card pays the rest", async () => {
    const c = await customer(api, "pro", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    const down = (
      await api.request("POST", "/v1/quotes", { account: c.account, plan: "starter", seats: 5 })
    ).json();
    expect(down).toMatchObject({ timing: "immediate" });
    const paid = await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin });
    expect(paid.statusCode, paid.body).toBe(200);
    const ledger = async () => (await api.request("GET", `/v1/accounts/${c.account}/ledger`)).json();
    const credit = (await ledger()).credit_balance.usd as number;
    // 15 of January's 31 days left: −R(24,900 × 15/31) + R(9,900 × 15/31) = −12,048 + 4,790
    expect(credit).toBe(7258);

    api.clock.set("2026-02-01T00:00:05Z");
    await renewSubscriptions(api.billing);
    const [renewal] = await invoicesOf(api, c.subscription);
    expect(renewal).toMatchObject({
      status: "paid",
      subtotal: 9900,
      creditApplied: 7258,
      amountDue: 2642,
      amountPaid: 2642,
    });
    expect(
      api.sandbox.requests.filter((r) => r.metadata.invoice === renewal?.id).map((r) => r.amount),
    ).toEqual([2642]);
    expect((await ledger()).credit_balance.usd).toBe(0);
    const html = (await api.request("GET", `/v1/invoices/${renewal?.id}/html`)).body;
    expect(html).toContain("Credit balance applied");
  });
});
