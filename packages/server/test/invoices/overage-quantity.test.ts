import { describe, expect, it } from "vitest";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  invoiceJson,
  invoicesOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * An overage line's quantity is the usage beyond the grant, which no bound limits below 2^53 − 1
 * (docs/pricing-and-proration.md, bounds): above 2^31 units it must still be invoiced, where an
 * int4 column refused the renewal's insert. On PGlite, and on PostgreSQL with UPTIER_TEST_DB=postgres.
 *
 * The catalog is the demo one with a summed `tokens` meter: Starter grants a million tokens a
 * billing period, and bills beyond them $0.01 per started thousand.
 */
const api: BillingApi = useBillingApi({
  catalog: (doc) => {
    const d = structuredClone(doc) as Record<string, Record<string, Record<string, unknown>>>;
    (d.meters as Record<string, unknown>).tokens = {
      event: "tokens.used",
      aggregation: "sum",
      property: "tokens",
      reset: "billing_period",
    };
    (d.features as Record<string, unknown>).tokens = {
      kind: "metered",
      name: "Tokens",
      meter: "tokens",
      unit: "token",
      overage: { policy: "billed", price: { model: "package", package_size: 1000, amount: 1 } },
    };
    const starter = d.plans?.starter as { grants: Record<string, unknown> };
    starter.grants = { ...starter.grants, tokens: 1_000_000 };
    return d;
  },
});

const INT4_MAX = 2 ** 31 - 1;

async function useTokens(account: string, id: string, amounts: readonly number[]) {
  const events = amounts.map((tokens, i) => ({
    id: `${id}_${i}`,
    account,
    event: "tokens.used",
    properties: { tokens },
  }));
  const response = await api.request("POST", "/v1/events", { events });
  expect(response.json()).toMatchObject({ accepted: amounts.length });
}

describe("an overage quantity above 2^31 units", () => {
  it("is invoiced by the renewal, in full, and read back exactly", async () => {
    api.clock.set("2026-01-17T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-01T00:00:00Z" });
    // 3 × 1.5 billion + 7 tokens, a million granted: 4 499 000 007 over, 4 499 001 started thousands
    await useTokens(c.account, `renewal_${c.account}`, [1_500_000_000, 1_500_000_000, 1_500_000_000, 7]);
    api.clock.set("2026-02-01T00:00:05Z");
    await renewSubscriptions(api.billing);
    const [renewal] = await invoicesOf(api, c.subscription);
    const view = await invoiceJson(api, renewal?.id as string);
    const overage = view.lines.find((l: { item: string }) => l.item === "overage:tokens");
    expect(overage).toMatchObject({
      quantity: 4_499_000_007,
      amount: 4_499_001,
      period_start: "2026-01-01T00:00:00.000Z",
      period_end: "2026-02-01T00:00:00.000Z",
    });
    expect(overage.quantity).toBeGreaterThan(INT4_MAX);
    expect(view).toMatchObject({ status: "paid", subtotal: 9900 + 4_499_001 });
  });

  it("is invoiced by an ended subscription's final invoice too", async () => {
    api.clock.set("2026-03-03T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-03-01T00:00:00Z" });
    await useTokens(c.account, `final_${c.account}`, [2_200_000_000, 1_000_000]);
    api.clock.set("2026-03-10T00:00:00Z");
    const ended = await api.request("POST", `/v1/subscriptions/${c.subscription}/cancel`, {
      at_period_end: false,
    });
    expect(ended.statusCode).toBe(200);
    expect(await renewSubscriptions(api.billing)).toMatchObject({ final: 1 });
    const [final] = await invoicesOf(api, c.subscription, "subscription_final");
    const view = await invoiceJson(api, final?.id as string);
    expect(view.lines).toEqual([
      expect.objectContaining({ item: "overage:tokens", quantity: 2_200_000_000, amount: 2_200_000 }),
    ]);
  });
});
