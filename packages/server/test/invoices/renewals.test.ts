import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents, invoicePayments, invoices, subscriptions } from "../../src/db/schema/index.ts";
import { renewSubscriptionsJob, retryInvoicePaymentsJob, runJobOnce } from "../../src/jobs/billing-jobs.ts";
import { retryInvoicePayments } from "../../src/services/invoices/collection.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import {
  type BillingApi,
  customer,
  eventTypesOf,
  invoiceJson as invoiceJsonOf,
  invoicesOf,
  renewAt as renewAtOf,
  useBillingApi,
  withBilledApiCalls,
} from "../support/billing-harness.ts";

/**
 * Renewals at period end and dunning, through the services the jobs run and the HTTP actions, on
 * PGlite and PostgreSQL. The harness checks after every scenario that the ledger reconciles with the
 * invoices and with what the sandbox gateway collected. Time only moves forward in this file: each
 * scenario sets the clock at or after the previous one's.
 *
 * The catalog is the demo one with API calls made a billed overage (Starter grants 10 calls here,
 * beyond them $2 per started 5 calls), so the overage of an ended period is invoiced in arrears.
 */
const api: BillingApi = useBillingApi({ catalog: withBilledApiCalls });

const renewalsOf = (subscription: string) => invoicesOf(api, subscription);
const invoiceJson = (id: string) => invoiceJsonOf(api, id);
const subscriptionStatus = async (id: string) =>
  (await api.database.db.select().from(subscriptions).where(eq(subscriptions.id, id)))[0]?.status;
const attemptsOf = (invoice: string) =>
  api.database.db
    .select()
    .from(invoicePayments)
    .where(eq(invoicePayments.invoiceId, invoice))
    .orderBy(invoicePayments.attempt);
const eventsOf = (account: string) => eventTypesOf(api, account);
const renewAt = (iso: string) => renewAtOf(api, iso);
/** A Starter customer (Sep 1) whose card always declines, renewed on Oct 1 with these retries: its open renewal. */
async function decliningRenewal(retryDays: number[]) {
  api.clock.set("2026-09-03T00:00:00Z");
  const c = await customer(api, "starter", {
    token: "sandbox_expired_card",
    billing_cycle_anchor: "2026-09-01T00:00:00Z",
  });
  const billing = { ...api.billing, retryDays };
  api.clock.set("2026-10-01T00:00:10Z");
  await renewSubscriptions(billing);
  const [renewal] = await renewalsOf(c.subscription);
  return { c, billing, id: renewal?.id as string };
}
async function attachCard(account: string, token: string) {
  const pm = await api.request("POST", `/v1/accounts/${account}/payment_methods`, { token, default: true });
  expect(pm.statusCode, pm.body).toBe(201);
  return pm.json().id as string;
}

describe("renewal at period end", () => {
  it("renews Pro monthly with 12 seats and SSO once: recurring lines in advance, numbered, charged, paid", async () => {
    const c = await customer(api, "pro", {
      seats: 12,
      add_ons: [{ key: "sso" }],
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
    });
    await renewAt("2026-01-31T23:59:59Z");
    expect(await renewalsOf(c.subscription)).toEqual([]);
    await renewAt("2026-02-01T00:00:30Z");
    await renewSubscriptions(api.billing); // a second run changes nothing
    const [renewal, ...more] = await renewalsOf(c.subscription);
    expect(more).toEqual([]);
    const view = await invoiceJson(renewal?.id as string);
    expect(view).toMatchObject({
      status: "paid",
      billing_reason: "subscription_cycle",
      subtotal: 32_800,
      amount_due: 32_800,
      amount_paid: 32_800,
      amount_remaining: 0,
      period_start: "2026-02-01T00:00:00.000Z",
      period_end: "2026-03-01T00:00:00.000Z",
      next_payment_attempt: null,
    });
    expect(view.number).toMatch(/^UPT-\d{6}$/);
    expect(
      view.lines.map((l: Record<string, unknown>) => [
        l.item,
        l.description,
        l.quantity,
        l.amount,
        l.proration,
      ]),
    ).toEqual([
      ["plan", "Pro plan (monthly)", 1, 24_900, false],
      ["seats", "2 × Pro seat", 2, 3000, false],
      ["add_on:sso", "1 × SSO", 1, 4900, false],
    ]);
    const charges = api.sandbox.requests.filter((r) => r.metadata.invoice === renewal?.id);
    expect(charges.map((r) => [r.amount, r.idempotencyKey])).toEqual([
      [32_800, `uptier_${renewal?.id}_attempt_1`],
    ]);
    expect(await eventsOf(c.account)).toEqual(
      expect.arrayContaining(["invoice.created", "invoice.finalized", "invoice.paid"]),
    );
    const html = await api.request("GET", `/v1/invoices/${renewal?.id}/html`);
    expect(html.body).toContain(`status-paid">paid</span>`);
  });

  it("anchors on the 31st: renews on Feb 28 for Feb 28 → Mar 31, then on Mar 31 for Mar 31 → Apr 30", async () => {
    api.clock.set("2026-02-10T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-01-31T00:00:00Z" });
    await renewAt("2026-02-27T23:59:59Z");
    expect(await renewalsOf(c.subscription)).toEqual([]);
    await renewAt("2026-02-28T00:00:01Z");
    await renewAt("2026-03-31T00:00:01Z");
    const renewals = await renewalsOf(c.subscription);
    expect(
      renewals.map((r) => [r.periodStart?.toISOString(), r.periodEnd?.toISOString(), r.amountPaid]),
    ).toEqual([
      ["2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z", 9900],
      ["2026-03-31T00:00:00.000Z", "2026-04-30T00:00:00.000Z", 9900],
    ]);
    // gap-free: every finalized invoice has the next number
    const numbered = (await api.database.db.select({ s: invoices.sequence }).from(invoices))
      .map((r) => Number(r.s))
      .sort((a, b) => a - b);
    expect(numbered).toEqual(numbered.map((_, i) => i + 1));
  });

  it("renews an annual plan at its anniversary, for a year", async () => {
    api.clock.set("2026-04-01T00:00:00Z");
    const c = await customer(api, "starter", {
      interval: "year",
      billing_cycle_anchor: "2025-06-15T00:00:00Z",
    });
    await renewAt("2026-06-15T00:00:01Z");
    const [renewal] = await renewalsOf(c.subscription);
    expect(renewal).toMatchObject({
      status: "paid",
      subtotal: 99_000,
      periodStart: new Date("2026-06-15T00:00:00Z"),
      periodEnd: new Date("2027-06-15T00:00:00Z"),
    });
  });

  it("bills the ended period's overage in arrears, with the grants then in force", async () => {
    api.clock.set("2026-06-20T00:00:00Z");
    const c = await customer(api, "starter", { billing_cycle_anchor: "2026-06-01T00:00:00Z" });
    const events = Array.from({ length: 17 }, (_, i) => ({
      id: `call_${i}_${randomBytes(3).toString("hex")}`,
      account: c.account,
      event: "api.call",
    }));
    expect((await api.request("POST", "/v1/events", { events })).json()).toMatchObject({ accepted: 17 });
    await renewAt("2026-07-01T00:00:01Z");
    const [renewal] = await renewalsOf(c.subscription);
    const view = await invoiceJson(renewal?.id as string);
    // 17 calls, 10 granted: 7 over, two started packages of 5 at $2
    expect(
      view.lines.map((l: Record<string, unknown>) => [l.item, l.quantity, l.amount, l.period_start]),
    ).toEqual([
      ["plan", 1, 9900, "2026-07-01T00:00:00.000Z"],
      ["overage:api_calls", 7, 400, "2026-06-01T00:00:00.000Z"],
    ]);
    expect(view).toMatchObject({ status: "paid", subtotal: 10_300 });
  });

  it("applies a downgrade due at the period end before pricing the renewal", async () => {
    api.clock.set("2026-07-10T00:00:00Z");
    const c = await customer(api, "pro", { billing_cycle_anchor: "2026-07-01T00:00:00Z" });
    const down = (
      await api.request("POST", "/v1/quotes", { account: c.account, plan: "starter", seats: 5 })
    ).json();
    expect(down).toMatchObject({ timing: "period_end" });
    expect((await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin })).statusCode).toBe(
      200,
    );
    await renewAt("2026-08-01T00:00:01Z");
    const [renewal] = await renewalsOf(c.subscription);
    expect(renewal).toMatchObject({ subtotal: 9900, status: "paid" });
    expect(
      (await api.database.db.select().from(subscriptions).where(eq(subscriptions.id, c.subscription)))[0]
        ?.planKey,
    ).toBe("starter");
  });
});

describe("dunning", () => {
  it("a decline leaves the renewal open and the subscription past_due; a retry on day 1 with a new card pays it", async () => {
    api.clock.set("2026-08-05T00:00:00Z");
    const c = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: "2026-08-01T00:00:00Z",
    });
    await renewAt("2026-09-01T00:00:10Z");
    const [renewal] = await renewalsOf(c.subscription);
    const id = renewal?.id as string;
    expect(await invoiceJson(id)).toMatchObject({
      status: "open",
      amount_remaining: 9900,
      next_payment_attempt: "2026-09-02T00:00:10.000Z",
    });
    expect(await subscriptionStatus(c.subscription)).toBe("past_due");
    // past_due keeps access (dunning keeps the customer until retries are exhausted)
    const ent = (await api.request("GET", `/v1/accounts/${c.account}/entitlements`)).json();
    expect(ent).toMatchObject({ status: "past_due", active: true });
    expect(await eventsOf(c.account)).toEqual(
      expect.arrayContaining(["invoice.payment_failed", "subscription.updated"]),
    );
    const html = (await api.request("GET", `/v1/invoices/${id}/html`)).body;
    expect(html).toContain(`status-open">open</span>`);
    expect(html).toContain("Amount remaining");

    await attachCard(c.account, "sandbox_visa");
    api.clock.set("2026-09-01T23:00:00Z");
    expect(await retryInvoicePayments(api.billing)).toMatchObject({ attempted: 0 }); // not due yet
    api.clock.set("2026-09-02T00:00:10Z");
    expect(await runJobOnce(retryInvoicePaymentsJob, api.billing)).toMatch(
      /^Attempted \d+ open invoices?: [1-9]/,
    );
    expect(await invoiceJson(id)).toMatchObject({
      status: "paid",
      amount_paid: 9900,
      next_payment_attempt: null,
    });
    expect(await subscriptionStatus(c.subscription)).toBe("active");
    expect((await attemptsOf(id)).map((a) => [a.attempt, a.status, a.failureCode])).toEqual([
      [1, "failed", "insufficient_funds"],
      [2, "succeeded", null],
    ]);
  });

  it("after the last retry fails the invoice is uncollectible and the subscription canceled (delinquent)", async () => {
    const { c, billing, id } = await decliningRenewal([1, 3]);
    for (const day of ["2026-10-02T00:00:10Z", "2026-10-04T00:00:10Z"]) {
      api.clock.set(day);
      await retryInvoicePayments(billing);
    }
    expect(await invoiceJson(id)).toMatchObject({ status: "uncollectible", next_payment_attempt: null });
    expect((await attemptsOf(id)).map((a) => a.status)).toEqual(["failed", "failed", "failed"]);
    expect(await subscriptionStatus(c.subscription)).toBe("canceled");
    const canceled = (
      await api.database.db.select().from(domainEvents).where(eq(domainEvents.accountId, c.account))
    ).find((e) => e.type === "subscription.canceled");
    expect(canceled?.data).toMatchObject({ reason: "delinquent", invoice: id });
    const check = await api.request("POST", "/v1/check", {
      account: c.account,
      feature: "advanced_reporting",
    });
    expect(check.json()).toMatchObject({ allowed: false, reason: "account_inactive" });
    const ledger = (await api.request("GET", `/v1/accounts/${c.account}/ledger`)).json();
    expect(ledger.balances.usd).toMatchObject({ bad_debt: 9900, receivable: 0 });
  });
  it("a subscription whose scheduled cancellation passed during dunning ended then, not as delinquent", async () => {
    const { c, billing, id } = await decliningRenewal([1, 40]);
    api.clock.set("2026-10-01T12:00:00Z");
    const scheduled = await api.request("POST", `/v1/subscriptions/${c.subscription}/cancel`, {
      at_period_end: true,
    });
    expect(scheduled.json()).toMatchObject({ cancel_at: "2026-11-01T00:00:00.000Z" });
    for (const day of ["2026-10-02T00:00:10Z", "2026-11-10T00:00:10Z"]) {
      api.clock.set(day);
      await retryInvoicePayments(billing);
    }
    expect(await invoiceJson(id)).toMatchObject({ status: "uncollectible" });
    const sub = (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json();
    expect(sub).toMatchObject({ status: "canceled", ended_at: "2026-11-01T00:00:00.000Z" });
    const canceled = (
      await api.database.db.select().from(domainEvents).where(eq(domainEvents.accountId, c.account))
    ).filter((e) => e.type === "subscription.canceled");
    expect(canceled.map((e) => e.data)).toEqual([
      { subscription: c.subscription, ended_at: "2026-11-01T00:00:00.000Z" },
    ]);
  });
});

describe("invoice actions", () => {
  async function openRenewal(anchor: string, renewAtIso: string) {
    api.clock.set(anchor);
    const c = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: anchor,
    });
    await renewAt(renewAtIso);
    const [renewal] = await renewalsOf(c.subscription);
    expect(renewal?.status).toBe("open");
    return { ...c, invoice: renewal?.id as string };
  }

  it("void: an open invoice is voided and reversed in the ledger; a second void is invoice_not_open", async () => {
    const c = await openRenewal("2026-10-05T00:00:00Z", "2026-11-05T00:00:10Z");
    const voided = await api.request("POST", `/v1/invoices/${c.invoice}/void`, {});
    expect(voided.statusCode, voided.body).toBe(200);
    expect(voided.json()).toMatchObject({ status: "void", voided_at: "2026-11-05T00:00:10.000Z" });
    expect(await subscriptionStatus(c.subscription)).toBe("active");
    const again = await api.request("POST", `/v1/invoices/${c.invoice}/void`, {});
    expect(again.statusCode).toBe(409);
    expect(again.headers["content-type"]).toMatch(/application\/problem\+json/);
    expect(again.json()).toMatchObject({ code: "invoice_not_open" });
    expect((await api.request("POST", `/v1/invoices/${c.invoice}/pay`, {})).json()).toMatchObject({
      code: "invoice_not_open",
    });
    // the voided period is not billed again, and the dunning job leaves it alone
    await renewSubscriptions(api.billing);
    expect(await renewalsOf(c.subscription)).toHaveLength(1);
    const ledger = (await api.request("GET", `/v1/accounts/${c.account}/ledger`)).json();
    expect(ledger.balances.usd).toMatchObject({ revenue: 0, receivable: 0 });
  });

  it("mark_uncollectible writes the invoice off and keeps the subscription; pay now on a new card pays another", async () => {
    const c = await openRenewal("2026-11-06T00:00:00Z", "2026-12-06T00:00:10Z");
    const marked = await api.request("POST", `/v1/invoices/${c.invoice}/mark_uncollectible`, {});
    expect(marked.statusCode, marked.body).toBe(200);
    expect(marked.json()).toMatchObject({ status: "uncollectible" });
    expect(await subscriptionStatus(c.subscription)).toBe("active");

    const d = await openRenewal("2026-11-07T00:00:00Z", "2026-12-07T00:00:10Z");
    const declined = await api.request("POST", `/v1/invoices/${d.invoice}/pay`, {});
    expect(declined.statusCode).toBe(402);
    expect(declined.json()).toMatchObject({ code: "payment_declined" });
    const card = await attachCard(d.account, "sandbox_visa");
    const paid = await api.request(
      "POST",
      `/v1/invoices/${d.invoice}/pay`,
      { payment_method: card },
      {
        "idempotency-key": `pay-${d.invoice}`,
      },
    );
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ status: "paid", amount_paid: 9900 });
    // a replay answers the first response and charges nothing more
    const replay = await api.request(
      "POST",
      `/v1/invoices/${d.invoice}/pay`,
      { payment_method: card },
      {
        "idempotency-key": `pay-${d.invoice}`,
      },
    );
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(
      api.sandbox.requests.filter(
        (r) => r.metadata.invoice === d.invoice && r.paymentMethod.token === "sandbox_visa",
      ),
    ).toHaveLength(1);
    expect((await api.request("POST", `/v1/invoices/${d.invoice}/pay`, {})).json()).toMatchObject({
      code: "invoice_not_open",
    });
    const payments = (await api.request("GET", `/v1/invoices/${d.invoice}/payments`)).json();
    expect(payments.data.map((p: { trigger: string; status: string }) => [p.trigger, p.status])).toEqual([
      ["automatic", "failed"],
      ["manual", "failed"],
      ["manual", "succeeded"],
    ]);
    expect(await subscriptionStatus(d.subscription)).toBe("active");
  });
});

describe("exactly once under concurrency", () => {
  it("two workers renewing at once make one invoice and one charge per period", async () => {
    api.clock.set("2026-12-10T00:00:00Z");
    const cs = await Promise.all(
      [1, 2, 3].map(() => customer(api, "starter", { billing_cycle_anchor: "2026-12-01T00:00:00Z" })),
    );
    api.clock.set("2027-01-01T00:00:10Z");
    await Promise.all([
      renewSubscriptions(api.billing),
      renewSubscriptions(api.billing),
      retryInvoicePayments(api.billing),
    ]);
    for (const c of cs) {
      const renewals = await renewalsOf(c.subscription);
      expect(renewals.map((r) => r.status)).toEqual(["paid"]);
      const charges = api.sandbox.requests.filter((r) => r.metadata.invoice === renewals[0]?.id);
      // asked at most twice with one key (a worker resuming), collected once
      expect(new Set(charges.map((r) => r.idempotencyKey)).size).toBe(1);
      expect(
        (await api.sandbox.collected()).filter((p) =>
          p.idempotencyKey.startsWith(`uptier_${renewals[0]?.id}`),
        ),
      ).toHaveLength(1);
    }
    expect(await runJobOnce(renewSubscriptionsJob, api.billing)).toMatch(/^Renewed 0 subscription periods/);
  });
});

describe("paying an uncollectible invoice later", () => {
  /** A Starter customer whose card always declines, its renewal written off after two retries. */
  async function writtenOff(anchor: string, renewAtIso: string) {
    api.clock.set(anchor);
    const c = await customer(api, "starter", { token: "sandbox_expired_card", billing_cycle_anchor: anchor });
    const billing = { ...api.billing, retryDays: [1, 3] };
    api.clock.set(renewAtIso);
    await renewSubscriptions(billing);
    const [renewal] = await renewalsOf(c.subscription);
    const id = renewal?.id as string;
    for (const days of [1, 3]) {
      api.clock.set(new Date(new Date(renewAtIso).getTime() + days * 86_400_000).toISOString());
      await retryInvoicePayments(billing);
    }
    expect(await invoiceJson(id)).toMatchObject({ status: "uncollectible" });
    expect(await subscriptionStatus(c.subscription)).toBe("canceled");
    return { ...c, invoice: id };
  }
  const ledgerOf = async (account: string) =>
    (await api.request("GET", `/v1/accounts/${account}/ledger`)).json().balances.usd;
  const collectedFor = async (invoice: string) =>
    (await api.sandbox.collected()).filter((p) => p.idempotencyKey.startsWith(`uptier_${invoice}_`));

  it("is paid once, its write-off reversed, and the delinquent subscription stays canceled", async () => {
    const c = await writtenOff("2027-01-05T00:00:00Z", "2027-02-05T00:00:10Z");
    expect(await ledgerOf(c.account)).toMatchObject({ bad_debt: 9900, receivable: 0 });

    // a declined attempt leaves it written off
    const declined = await api.request("POST", `/v1/invoices/${c.invoice}/pay`, {});
    expect(declined.statusCode).toBe(402);
    expect(declined.json()).toMatchObject({ code: "payment_declined" });
    expect(declined.json().detail).toContain("still uncollectible");
    expect(await invoiceJson(c.invoice)).toMatchObject({
      status: "uncollectible",
      next_payment_attempt: null,
    });

    api.clock.set("2027-02-20T10:00:00Z");
    const card = await attachCard(c.account, "sandbox_visa");
    const key = { "idempotency-key": `late-${c.invoice}` };
    const paid = await api.request("POST", `/v1/invoices/${c.invoice}/pay`, { payment_method: card }, key);
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({
      status: "paid",
      amount_paid: 9900,
      amount_remaining: 0,
      paid_at: "2027-02-20T10:00:00.000Z",
      marked_uncollectible_at: "2027-02-08T00:00:10.000Z", // the retry of day 3
    });
    const replay = await api.request("POST", `/v1/invoices/${c.invoice}/pay`, { payment_method: card }, key);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect((await api.request("POST", `/v1/invoices/${c.invoice}/pay`, {})).json()).toMatchObject({
      code: "invoice_not_open",
    });
    expect((await collectedFor(c.invoice)).map((p) => p.amount)).toEqual([9900]);

    // as if paid on time: the cash in, nothing owed, nothing in bad debt
    expect(await ledgerOf(c.account)).toMatchObject({
      cash: 9900,
      receivable: 0,
      bad_debt: 0,
      revenue: -9900,
    });
    const ledger = (await api.request("GET", `/v1/accounts/${c.account}/ledger`)).json();
    expect(
      ledger.entries
        .filter((e: { source: string }) => e.source === `write_off_reversal:${c.invoice}`)
        .map((e: { ledger_account: string; amount: number }) => [e.ledger_account, e.amount]),
    ).toEqual(
      expect.arrayContaining([
        ["bad_debt", -9900],
        ["receivable", 9900],
      ]),
    );
    const events = await eventsOf(c.account);
    expect(events.slice(events.lastIndexOf("invoice.marked_uncollectible"))).toEqual([
      "invoice.marked_uncollectible",
      "subscription.canceled",
      "invoice.payment_failed", // the declined attempt
      "payment_method.attached",
      "invoice.paid",
    ]);
    // the debt is settled; the service is not resumed
    expect(await subscriptionStatus(c.subscription)).toBe("canceled");
    const check = await api.request("POST", "/v1/check", {
      account: c.account,
      feature: "advanced_reporting",
    });
    expect(check.json()).toMatchObject({ allowed: false, reason: "account_inactive" });
    // and nothing renews it
    api.clock.set("2027-03-05T00:00:10Z");
    await renewSubscriptions(api.billing);
    expect(await renewalsOf(c.subscription)).toHaveLength(1);
  });

  it("two people paying at once: one charge", async () => {
    const c = await writtenOff("2027-03-06T00:00:00Z", "2027-04-06T00:00:10Z");
    await attachCard(c.account, "sandbox_visa");
    const answers = await Promise.all(
      [1, 2].map(() => api.request("POST", `/v1/invoices/${c.invoice}/pay`, {})),
    );
    const codes = answers.map((a) => (a.statusCode === 200 ? "paid" : a.json().code));
    // the other finds the attempt in flight, or the invoice paid already
    expect(codes.filter((code) => code === "paid")).toHaveLength(1);
    expect(codes.find((code) => code !== "paid")).toMatch(/^invoice_(payment_pending|not_open)$/);
    expect(await collectedFor(c.invoice)).toHaveLength(1);
    expect(await invoiceJson(c.invoice)).toMatchObject({ status: "paid", amount_paid: 9900 });
  });

  it("a write-off forgiven by hand, paid later: the subscription stays active and unchanged", async () => {
    api.clock.set("2027-04-07T00:00:00Z");
    const c = await customer(api, "starter", {
      token: "sandbox_insufficient_funds",
      billing_cycle_anchor: "2027-04-07T00:00:00Z",
    });
    await renewAt("2027-05-07T00:00:10Z");
    const [renewal] = await renewalsOf(c.subscription);
    const id = renewal?.id as string;
    expect((await api.request("POST", `/v1/invoices/${id}/mark_uncollectible`, {})).statusCode).toBe(200);
    expect(await subscriptionStatus(c.subscription)).toBe("active");
    const revision = async () =>
      (await api.database.db.select().from(subscriptions).where(eq(subscriptions.id, c.subscription)))[0]
        ?.revision;
    const before = await revision();
    await attachCard(c.account, "sandbox_visa");
    const paid = await api.request("POST", `/v1/invoices/${id}/pay`, {});
    expect(paid.statusCode, paid.body).toBe(200);
    expect(await subscriptionStatus(c.subscription)).toBe("active");
    expect(await revision()).toBe(before);
    expect(await ledgerOf(c.account)).toMatchObject({ cash: 9900, receivable: 0, bad_debt: 0 });
  });
});
