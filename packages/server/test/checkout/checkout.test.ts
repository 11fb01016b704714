import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import {
  checkouts,
  domainEvents,
  invoices,
  scheduledChanges,
  subscriptions,
} from "../../src/db/schema/index.ts";
import {
  beginCheckout,
  driveCheckout,
  recoverCheckouts,
  refundCheckout,
} from "../../src/services/checkout/index.ts";
import {
  type BillingApi,
  chargesFor as chargesForAccount,
  customer,
  ProcessCrash,
  useBillingApi,
} from "../support/billing-harness.ts";

const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };

async function quote(account: string, change: Record<string, unknown>) {
  const response = await api.request("POST", "/v1/quotes", { account, ...change });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}
const checkout = (quoteId: string, actor: Record<string, string>, headers: Record<string, string> = {}) =>
  api.request("POST", "/v1/checkout", { quote: quoteId, ...actor }, headers);
const chargesFor = (account: string) => chargesForAccount(api, account);
async function sub(id: string) {
  return (await api.request("GET", `/v1/subscriptions/${id}`)).json();
}
async function eventsOf(account: string, type: string) {
  return api.database.db
    .select()
    .from(domainEvents)
    .where(and(eq(domainEvents.accountId, account), eq(domainEvents.type, type)));
}

describe("quote → checkout on the sandbox gateway", () => {
  it("adds a seat: $7.26 today, charged once, paid invoice, entitlements instantly", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 6 });
    expect(q).toMatchObject({
      object: "quote",
      status: "open",
      timing: "immediate",
      amount_due: 726,
      lines: [
        {
          item: "seats",
          amount: 726,
          quantity: 1,
          unit_amount: 1500,
          description: "Remaining time on 1 × Starter seat after 2026-01-17",
        },
      ],
      recurring: {
        before: { amount: 9900, interval: "month" },
        after: { amount: 11_400, interval: "month" },
        delta_per_month: 1500,
      },
      next_invoice: { date: "2026-02-01T00:00:00.000Z", amount: 11_400 },
      expires_at: "2026-01-17T00:15:00.000Z",
      summary_text:
        "Adding 1 seat adds $15.00 to your monthly bill. $7.26 is due today for the remaining 15 days of this cycle. Your next invoice, on Feb 1, 2026, will be $114.00.",
    });
    const done = await checkout(q.id, { member: c.admin });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({
      status: "succeeded",
      amount: 726,
      currency: "usd",
      authorized_by: c.admin,
    });
    expect((await chargesFor(c.account)).map((p) => p.amount)).toEqual([726]);
    expect((await sub(c.subscription)).seats).toBe(6);
    const invoice = (await api.request("GET", `/v1/invoices/${done.json().invoice}`)).json();
    expect(invoice).toMatchObject({
      status: "paid",
      number: expect.stringMatching(/^UPT-\d{6}$/),
      subtotal: 726,
      amount_due: 726,
      amount_paid: 726,
      lines: [{ amount: 726, item: "seats" }],
    });
    const html = await api.request("GET", `/v1/invoices/${invoice.id}/html`);
    expect(html.headers["content-type"]).toContain("text/html");
    expect(html.body).toContain(invoice.number);
    expect(html.body).toContain("$7.26");
    expect(await eventsOf(c.account, "subscription.updated")).toHaveLength(1);
    // the event carries the number the counter gave the invoice
    expect(
      (await eventsOf(c.account, "invoice.paid")).map(
        (e) => (e.data as { invoice: { number: string } }).invoice.number,
      ),
    ).toEqual([invoice.number]);
    const ledger = (await api.request("GET", `/v1/accounts/${c.account}/ledger`)).json();
    expect(ledger.balances.usd).toEqual({ revenue: -726, receivable: 0, cash: 726 });
    // the quote's price is locked: a second checkout of it returns the same result, charging nothing more
    const again = await checkout(q.id, { member: c.admin });
    expect(again.json()).toMatchObject({ id: done.json().id, status: "succeeded" });
    expect(await chargesFor(c.account)).toHaveLength(1);
  });

  it("upgrades a plan with an add-on at once; downgrades wait for the period end and then apply", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const up = await quote(c.account, { plan: "pro", add_ons: [{ key: "sso" }] });
    expect(up.lines.map((l: { item: string; amount: number }) => [l.item, l.amount])).toEqual([
      ["plan", -4790],
      ["plan", 12_048],
      ["add_on:sso", 2371], // R(4900 × 15/31)
    ]);
    expect((await checkout(up.id, { user_id: c.adminUser })).json().status).toBe("succeeded");
    expect(await sub(c.subscription)).toMatchObject({ plan: "pro", add_ons: [{ key: "sso", quantity: 1 }] });

    const down = await quote(c.account, { plan: "starter", add_ons: [] });
    expect(down).toMatchObject({
      timing: "period_end",
      amount_due: 0,
      lines: [],
      effective_at: "2026-02-01T00:00:00.000Z",
    });
    const scheduled = await checkout(down.id, { member: c.admin });
    expect(scheduled.json()).toMatchObject({ status: "succeeded", amount: 0, invoice: null });
    expect((await sub(c.subscription)).plan).toBe("pro");
    expect(await eventsOf(c.account, "subscription.change_scheduled")).toHaveLength(1);
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      const next = await quote(c.account, { seats: 6 });
      expect(next.change.from).toMatchObject({ plan: "starter", add_ons: [] });
      expect((await sub(c.subscription)).plan).toBe("starter");
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("a change while a reduction is scheduled says it cancels it, and its checkout does, with an event", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, seats: 8 });
    const before = await quote(c.account, { seats: 9 });
    expect(before.replaces_scheduled_change).toBeNull();
    const down = await quote(c.account, { seats: 6 });
    expect((await checkout(down.id, { member: c.admin })).json().status).toBe("succeeded");
    const [pending] = await api.database.db
      .select()
      .from(scheduledChanges)
      .where(eq(scheduledChanges.subscriptionId, c.subscription));
    expect(pending).toMatchObject({ status: "scheduled", quoteId: down.id });

    const up = await quote(c.account, { seats: 9 });
    const told = { id: pending?.id, effective_at: "2026-02-01T00:00:00.000Z" };
    expect(up).toMatchObject({ timing: "immediate", amount_due: 726, replaces_scheduled_change: told });
    expect(up.summary).toEqual([
      "Adding 1 seat adds $15.00 to your monthly bill.",
      "$7.26 is due today for the remaining 15 days of this cycle.",
      "Your change scheduled for Feb 1, 2026 is canceled and replaced by this one.",
      "Your next invoice, on Feb 1, 2026, will be $159.00.",
    ]);
    // stored as answered
    expect((await api.request("GET", `/v1/quotes/${up.id}`)).json()).toEqual(up);

    const done = await checkout(up.id, { member: c.admin });
    expect(done.json()).toMatchObject({ status: "succeeded", amount: 726 });
    expect(
      (
        await api.database.db
          .select()
          .from(scheduledChanges)
          .where(eq(scheduledChanges.id, pending?.id ?? ""))
      ).map((r) => r.status),
    ).toEqual(["canceled"]);
    const canceled = await eventsOf(c.account, "subscription.scheduled_change_canceled");
    expect(canceled.map((e) => e.data)).toEqual([
      {
        subscription: c.subscription,
        // as the subscription showed it: what was scheduled, by which quote
        scheduled_change: {
          ...told,
          quote: down.id,
          to: { plan: "starter", interval: "month", seats: 6, add_ons: [] },
        },
        replaced_by: {
          quote: up.id,
          checkout: done.json().id,
          timing: "immediate",
          components: expect.any(Array),
        },
      },
    ]);
    api.clock.set("2026-02-01T00:00:05Z");
    try {
      // the period end came and went: 9 seats stand, nothing is pending
      const next = await quote(c.account, { seats: 10 });
      expect(next.change.from).toMatchObject({ seats: 9 });
      expect(next.replaces_scheduled_change).toBeNull();
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });

  it("switches monthly → annual: the anchor resets, a full year less the unused month", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { interval: "year" });
    expect(q).toMatchObject({ amount_due: 94_210, billing_cycle_anchor_after: "2026-01-17T00:00:00.000Z" });
    expect((await checkout(q.id, { member: c.admin })).json().status).toBe("succeeded");
    expect(await sub(c.subscription)).toMatchObject({
      interval: "year",
      billing_cycle_anchor: "2026-01-17T00:00:00.000Z",
      current_period_end: "2027-01-17T00:00:00.000Z",
    });
  });
});

describe("payment outcomes", () => {
  it("a decline leaves everything unchanged and says why", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_insufficient_funds" });
    const q = await quote(c.account, { seats: 7 });
    const declined = await checkout(q.id, { member: c.admin });
    expect(declined.statusCode).toBe(402);
    expect(declined.json()).toMatchObject({ code: "payment_declined", param: "payment_method" });
    expect(declined.json().detail).toContain("Your card has insufficient funds. (insufficient_funds)");
    expect((await sub(c.subscription)).seats).toBe(5);
    expect(
      await api.database.db.select().from(invoices).where(eq(invoices.accountId, c.account)),
    ).toHaveLength(0);
    const expired = await customer(api, "starter", { ...ANCHOR, token: "sandbox_expired_card" });
    const q2 = await quote(expired.account, { seats: 6 });
    expect((await checkout(q2.id, { member: expired.admin })).json().detail).toContain(
      "Your card has expired. (expired_card)",
    );
  });

  it("requires-action returns what the browser needs and completes through confirm", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_requires_action" });
    const q = await quote(c.account, { seats: 6 });
    const pending = await checkout(q.id, { member: c.admin });
    expect(pending.statusCode).toBe(202);
    const body = pending.json();
    expect(body).toMatchObject({
      status: "requires_action",
      next_action: {
        type: "use_stripe_sdk",
        client_secret: expect.stringContaining("_secret_"),
        confirm_url: `/v1/checkouts/${body.id}/confirm`,
      },
    });
    const early = await api.request("POST", `/v1/checkouts/${body.id}/confirm`, {});
    expect(early.statusCode).toBe(202);
    await api.sandbox.completeAction(body.payment);
    const confirmed = await api.request("POST", `/v1/checkouts/${body.id}/confirm`, {});
    expect(confirmed.json()).toMatchObject({ status: "succeeded", invoice: expect.stringMatching(/^inv_/) });
    expect((await sub(c.subscription)).seats).toBe(6);
  });
});

describe("exactly once", () => {
  it("a retry with the same Idempotency-Key replays the answer and charges nothing more", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 8 });
    const first = await checkout(q.id, { member: c.admin }, { "idempotency-key": "co-retry-1" });
    const retry = await checkout(q.id, { member: c.admin }, { "idempotency-key": "co-retry-1" });
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.json()).toEqual(first.json());
    expect(await chargesFor(c.account)).toHaveLength(1);
    expect((await sub(c.subscription)).seats).toBe(8);
  });

  it("a gateway timeout after the charge went through ends with one charge and the change applied", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_timeout_after_charge" });
    const q = await quote(c.account, { seats: 6 });
    const done = await checkout(q.id, { member: c.admin });
    expect(done.json()).toMatchObject({ status: "succeeded" });
    expect(api.sandbox.requests.filter((r) => r.metadata.account === c.account).length).toBeGreaterThan(1);
    expect(await chargesFor(c.account)).toHaveLength(1);
    expect((await sub(c.subscription)).seats).toBe(6);
  });

  it("a crash between the gateway's success and our commit is finished by the recovery job", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 9 });
    api.gateway.afterCharge = () => {
      throw new ProcessCrash("the process died here");
    };
    const crashed = await checkout(q.id, { member: c.admin });
    expect(crashed.statusCode).toBe(500);
    api.gateway.afterCharge = null;
    const [row] = await api.database.db.select().from(checkouts).where(eq(checkouts.quoteId, q.id));
    expect(row?.status).toBe("pending");
    expect((await sub(c.subscription)).seats).toBe(5);
    expect(await chargesFor(c.account)).toHaveLength(1);
    // too recent: recovery leaves it to the request that may still be running
    expect((await recoverCheckouts(api.billing)).examined).toBe(0);
    api.clock.advance(120_000);
    try {
      const report = await recoverCheckouts(api.billing);
      expect(report).toMatchObject({ completed: 1, unresolved: 0 });
      expect(await recoverCheckouts(api.billing)).toMatchObject({ examined: 0 });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
    expect((await sub(c.subscription)).seats).toBe(9);
    expect(await chargesFor(c.account)).toHaveLength(1);
    expect(
      await api.database.db.select().from(invoices).where(eq(invoices.accountId, c.account)),
    ).toHaveLength(1);
    // the customer's retry after the crash sees the finished checkout
    expect((await checkout(q.id, { member: c.admin })).json().status).toBe("succeeded");
  });

  it("a crash, then a retry of the request, finishes the same checkout with the same gateway key", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 7 });
    api.gateway.afterCharge = () => {
      throw new ProcessCrash();
    };
    expect((await checkout(q.id, { member: c.admin })).statusCode).toBe(500);
    api.gateway.afterCharge = null;
    api.clock.advance(120_000);
    try {
      await recoverCheckouts(api.billing);
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
    expect(await chargesFor(c.account)).toHaveLength(1);
    expect((await sub(c.subscription)).seats).toBe(7);
  });

  it("a charge whose subscription changed before it completed is refunded by recovery", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 10 });
    api.gateway.afterCharge = () => {
      throw new ProcessCrash();
    };
    await checkout(q.id, { member: c.admin });
    api.gateway.afterCharge = null;
    await api.request("PATCH", `/v1/subscriptions/${c.subscription}`, { seats: 6 });
    api.clock.advance(120_000);
    try {
      expect(await recoverCheckouts(api.billing)).toMatchObject({ refunded: 1 });
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
    const [payment] = await chargesFor(c.account);
    expect(payment?.refunded).toBe(payment?.amount);
    expect((await sub(c.subscription)).seats).toBe(6);
  });

  it("20 concurrent checkouts of one quote make one charge and one change", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quote(c.account, { seats: 12 });
    const results = await Promise.all(Array.from({ length: 20 }, () => checkout(q.id, { member: c.admin })));
    expect(results.map((r) => r.statusCode).every((s) => s === 200)).toBe(true);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    expect(await chargesFor(c.account)).toHaveLength(1);
    const [row] = await api.database.db
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.id, c.subscription));
    expect(row).toMatchObject({ seats: 12, revision: 2 });
    expect(await eventsOf(c.account, "subscription.updated")).toHaveLength(1);
  });
});

type Buyer = Awaited<ReturnType<typeof customer>>;

describe("checkouts completed together", () => {
  it("checkouts of many accounts at once: one charge and one change each, consecutive numbers on the events", async () => {
    const buyers: Buyer[] = [];
    for (let i = 0; i < 12; i++) buyers.push(await customer(api, "starter", ANCHOR));
    const quotes = await Promise.all(buyers.map((c) => quote(c.account, { seats: 6 })));
    // a refused request among them (a non-admin) is answered alone and holds up no one
    const outsider = buyers[0] as Buyer;
    const member = (
      await api.request("POST", `/v1/accounts/${outsider.account}/members`, {
        email: "plain@batch.test",
        user_id: "plain",
        status: "active",
      })
    ).json();
    const refused = await quote(outsider.account, { seats: 7 });
    const [denied, ...results] = await Promise.all([
      checkout(refused.id, { member: member.id }),
      ...quotes.map((q, i) => checkout(q.id, { member: buyers[i]?.admin as string })),
    ]);
    expect(denied?.json()).toMatchObject({ code: "admin_approval_required" });
    expect(results.map((r) => r.json().status)).toEqual(buyers.map(() => "succeeded"));
    for (const c of buyers) {
      expect((await chargesFor(c.account)).map((p) => p.amount)).toEqual([726]);
      expect(await sub(c.subscription)).toMatchObject({ seats: 6, revision: 2 });
      expect(await eventsOf(c.account, "subscription.updated")).toHaveLength(1);
      const [invoice] = await api.database.db
        .select()
        .from(invoices)
        .where(eq(invoices.accountId, c.account));
      const paid = (await eventsOf(c.account, "invoice.paid")).map(
        (e) => (e.data as { invoice: { id: string; number: string } }).invoice,
      );
      expect(paid).toEqual([expect.objectContaining({ id: invoice?.id, number: invoice?.number })]);
    }
    const all = await api.database.db.select({ sequence: invoices.sequence }).from(invoices);
    const sorted = all.map((i) => Number(i.sequence)).sort((a, b) => a - b);
    expect(sorted).toEqual(sorted.map((_, i) => i + 1));
  });

  it("a checkout whose subscription changed meanwhile is given back without holding up the others", async () => {
    const buyers: Buyer[] = [];
    for (let i = 0; i < 3; i++) buyers.push(await customer(api, "starter", ANCHOR));
    const begun = [];
    for (const c of buyers) {
      const q = await quote(c.account, { seats: 6 });
      begun.push(await beginCheckout(api.billing, { quote: q.id, member: c.admin }));
    }
    const [first, stale, last] = buyers as [Buyer, Buyer, Buyer];
    await api.request("PATCH", `/v1/subscriptions/${stale.subscription}`, { seats: 7 });
    // the first completes alone; the other two arrive while it commits and are completed together
    const rows = await Promise.all(begun.map((b) => driveCheckout(api.billing, b)));
    expect(rows.map((r) => r.status)).toEqual(["succeeded", "refund_pending", "succeeded"]);
    expect(rows[1]).toMatchObject({ failureCode: "quote_stale", invoiceId: null });
    expect((await sub(first.subscription)).seats).toBe(6);
    expect((await sub(stale.subscription)).seats).toBe(7);
    expect((await sub(last.subscription)).seats).toBe(6);
    // the administrative edit's event only; no invoice
    expect(await eventsOf(stale.account, "subscription.updated")).toHaveLength(1);
    expect(
      await api.database.db.select().from(invoices).where(eq(invoices.accountId, stale.account)),
    ).toEqual([]);
    expect((await refundCheckout(api.billing, rows[1] as (typeof rows)[1])).status).toBe("refunded");
  });
});

describe("bad input: a clear 4xx with a stable code, nothing charged", () => {
  it("refuses expired, stale and foreign quotes, and non-admins", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const before = api.sandbox.requests.length;
    const expired = await quote(c.account, { seats: 6, expires_in: 60 });
    api.clock.advance(61_000);
    try {
      expect((await checkout(expired.id, { member: c.admin })).json()).toMatchObject({
        code: "quote_expired",
      });
      expect((await api.request("GET", `/v1/quotes/${expired.id}`)).json().status).toBe("expired");
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
    const stale = await quote(c.account, { seats: 6 });
    await api.request("PATCH", `/v1/subscriptions/${c.subscription}`, { seats: 7 });
    expect((await checkout(stale.id, { member: c.admin })).json()).toMatchObject({ code: "quote_stale" });

    const other = await customer(api, "starter", ANCHOR);
    const foreign = await checkout((await quote(c.account, { seats: 8 })).id, { member: other.admin });
    expect(foreign.statusCode).toBe(404);

    const member = (
      await api.request("POST", `/v1/accounts/${c.account}/members`, {
        email: "m@x.test",
        user_id: "plain",
        status: "active",
      })
    ).json();
    const q = await quote(c.account, { seats: 9 });
    const refused = await checkout(q.id, { member: member.id });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe("admin_approval_required");
    const [asked] = await eventsOf(c.account, "admin_approval.requested");
    expect(asked?.data).toMatchObject({ quote: q.id, requested_by: member.id, admins: [c.admin] });
    expect((await checkout(q.id, {})).json().code).toBe("actor_required");
    expect(api.sandbox.requests.length).toBe(before);
  });

  it("refuses impossible changes at quote time", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, seats: 8 });
    for (let i = 0; i < 6; i++)
      await api.request("POST", `/v1/accounts/${c.account}/members`, { email: `p${i}@x.test` });
    const cases: [Record<string, unknown>, number, string][] = [
      [{ seats: 6 }, 422, "seat_quantity_below_usage"],
      [{ plan: "starter" }, 409, "already_on_plan"],
      [{ add_ons: [{ key: "nope" }] }, 422, "unknown_add_on"],
      [{ plan: "nope" }, 422, "unknown_plan"],
      [{ plan: "pro", seats: 6 }, 422, "seat_quantity_below_usage"],
    ];
    for (const [change, status, code] of cases) {
      const response = await api.request("POST", "/v1/quotes", { account: c.account, ...change });
      expect([response.statusCode, response.json().code], JSON.stringify(change)).toEqual([status, code]);
    }
    expect((await api.request("POST", "/v1/quotes", { account: "acct_NOPE", seats: 3 })).statusCode).toBe(
      404,
    );
  });

  it("refuses to quote a subscription canceled at period end until it is resumed, and charges nothing", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const before = await quote(c.account, { seats: 6 });
    const cancel = await api.request("POST", `/v1/subscriptions/${c.subscription}/cancel`, {});
    expect(cancel.json()).toMatchObject({
      cancel_at_period_end: true,
      cancel_at: "2026-02-01T00:00:00.000Z",
    });
    for (const change of [{ seats: 6 }, { plan: "pro" }, { seats: 4 }, { interval: "year" }]) {
      const refused = await api.request("POST", "/v1/quotes", { account: c.account, ...change });
      expect([refused.statusCode, refused.json().code], JSON.stringify(change)).toEqual([
        409,
        "subscription_ending",
      ]);
      expect(refused.json().detail).toContain("canceled as of Feb 1, 2026");
    }
    // a quote made before the cancellation is not charged either
    const late = await checkout(before.id, { member: c.admin });
    expect([late.statusCode, late.json().code]).toEqual([409, "quote_stale"]);
    expect(await chargesFor(c.account)).toEqual([]);
    // resumed, it takes changes again
    const resume = await api.request("PATCH", `/v1/subscriptions/${c.subscription}`, {
      cancel_at_period_end: false,
    });
    expect(resume.json()).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    const again = await quote(c.account, { seats: 6 });
    expect((await checkout(again.id, { member: c.admin })).json()).toMatchObject({
      status: "succeeded",
      amount: 726,
    });
  });

  it("refuses a plan priced in another currency", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const { planVersions, plans } = await import("../../src/db/schema/index.ts");
    const [pro] = await api.database.db.select().from(planVersions).where(eq(planVersions.planKey, "pro"));
    await api.database.db.insert(planVersions).values({
      id: "planv_EURPRO",
      planKey: "pro_eur",
      version: 1,
      currency: "eur",
      definition: { ...(pro?.definition as object), key: "pro_eur" },
    });
    await api.database.db
      .insert(plans)
      .values({ key: "pro_eur", name: "Pro (EUR)", tier: 9, currentVersionId: "planv_EURPRO" });
    const response = await api.request("POST", "/v1/quotes", { account: c.account, plan: "pro_eur" });
    expect(response.json()).toMatchObject({ code: "currency_mismatch", param: "plan" });
  });

  it("refuses card numbers as payment methods", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const response = await api.request("POST", `/v1/accounts/${c.account}/payment_methods`, {
      token: "4242424242424242",
    });
    expect(response.json().code).toBe("card_number_not_accepted");
  });
});

describe("invoice numbers", () => {
  it("are consecutive with no gap, even around a declined checkout", async () => {
    const good = await customer(api, "starter", ANCHOR);
    const bad = await customer(api, "starter", { ...ANCHOR, token: "sandbox_insufficient_funds" });
    const numbers: number[] = [];
    for (const seats of [6, 7]) {
      const ok = await checkout((await quote(good.account, { seats })).id, { member: good.admin });
      await checkout((await quote(bad.account, { seats })).id, { member: bad.admin });
      const invoice = (await api.request("GET", `/v1/invoices/${ok.json().invoice}`)).json();
      numbers.push(Number(invoice.number.slice(4)));
    }
    expect(numbers[1]).toBe((numbers[0] as number) + 1);
    const all = await api.database.db.select({ sequence: invoices.sequence }).from(invoices);
    const sorted = all.map((i) => Number(i.sequence)).sort((a, b) => a - b);
    expect(sorted).toEqual(sorted.map((_, i) => i + 1));
  });
});
