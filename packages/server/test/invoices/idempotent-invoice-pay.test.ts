import { describe, expect, it } from "vitest";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  INVALID_KEYS,
  invoicesOf,
  ProcessCrash,
  snapshotOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * POST /v1/invoices/{id}/pay with an Idempotency-Key: checked and claimed before the attempt is
 * made (see idempotent-payments.test.ts for the other paying routes). Time only moves forward here.
 */
const api: BillingApi = useBillingApi();
const post = (url: string, body: unknown, headers: Record<string, string | string[]> = {}) =>
  api.request("POST", url, body, headers);
const key = (k: string | string[]) => ({ "idempotency-key": k });

describe("POST /v1/invoices/{id}/pay", () => {
  /** An account whose renewal was declined: its invoice is open, and a good card is now on file. */
  async function openInvoice(anchor: string, renewAt: string) {
    api.clock.set(anchor);
    const c = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: anchor,
    });
    api.clock.set(renewAt);
    await renewSubscriptions(api.billing);
    const [renewal] = await invoicesOf(api, c.subscription);
    expect(renewal?.status).toBe("open");
    const card = (
      await post(`/v1/accounts/${c.account}/payment_methods`, { token: "sandbox_visa", default: true })
    ).json().id as string;
    return { ...c, invoice: renewal?.id as string, card };
  }
  const invoiceCharges = async (invoice: string) =>
    (await api.sandbox.collected()).filter((p) => p.idempotencyKey.startsWith(`uptier_${invoice}_`));

  it("an invalid key: 400, no attempt, no charge", async () => {
    const c = await openInvoice("2026-03-01T00:00:00Z", "2026-04-01T00:00:10Z");
    for (const [form, value] of INVALID_KEYS) {
      const before = await snapshotOf(api);
      const refused = await post(`/v1/invoices/${c.invoice}/pay`, { payment_method: c.card }, key(value));
      expect([refused.statusCode, refused.json().code], form).toEqual([400, "invalid_idempotency_key"]);
      expect(await snapshotOf(api), form).toEqual(before);
    }
    expect(await invoiceCharges(c.invoice)).toEqual([]);
    expect((await api.request("GET", `/v1/invoices/${c.invoice}`)).json().status).toBe("open");
  });

  it("one key, two invoices at once: one paid, the other untouched", async () => {
    const a = await openInvoice("2026-04-02T00:00:00Z", "2026-05-02T00:00:10Z");
    const b = await openInvoice("2026-05-03T00:00:00Z", "2026-06-03T00:00:10Z");
    const before = [
      (await api.request("GET", `/v1/invoices/${a.invoice}/payments`)).json().data.length,
      (await api.request("GET", `/v1/invoices/${b.invoice}/payments`)).json().data.length,
    ];
    const answers = await Promise.all([
      post(`/v1/invoices/${a.invoice}/pay`, { payment_method: a.card }, key("race-pay")),
      post(`/v1/invoices/${b.invoice}/pay`, { payment_method: b.card }, key("race-pay")),
    ]);
    expect(answers.map((r) => r.statusCode).sort(), answers.map((r) => r.body).join("\n")).toEqual([
      200, 422,
    ]);
    const [won, lost, i] = answers[0]?.statusCode === 200 ? [a, b, 1] : [b, a, 0];
    expect((await invoiceCharges(won.invoice)).map((p) => p.amount)).toEqual([9900]);
    expect(await invoiceCharges(lost.invoice)).toEqual([]);
    expect((await api.request("GET", `/v1/invoices/${lost.invoice}`)).json().status).toBe("open");
    expect((await api.request("GET", `/v1/invoices/${lost.invoice}/payments`)).json().data).toHaveLength(
      before[i] as number,
    );
  });

  it("a 500 after the charge: the retry with the key settles that attempt and answers the paid invoice", async () => {
    const c = await openInvoice("2026-06-04T00:00:00Z", "2026-07-04T00:00:10Z");
    api.gateway.afterCharge = () => {
      api.gateway.afterCharge = null;
      throw new ProcessCrash();
    };
    const pay = () => post(`/v1/invoices/${c.invoice}/pay`, { payment_method: c.card }, key("crash-pay"));
    expect((await pay()).statusCode).toBe(500);
    const retry = await pay();
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toMatchObject({ status: "paid", amount_paid: 9900 });
    expect((await pay()).body).toBe(retry.body);
    expect((await invoiceCharges(c.invoice)).map((p) => p.amount)).toEqual([9900]);
    const attempts = (await api.request("GET", `/v1/invoices/${c.invoice}/payments`)).json().data;
    expect(attempts.map((p: { status: string }) => p.status)).toEqual(["failed", "succeeded"]);
  });
});
