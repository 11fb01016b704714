import { and, asc, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import { customer, useBillingApi } from "../support/billing-harness.ts";
import { tableSnapshot } from "../support/harness.ts";

/** The seat-limit moment on any plan: the refusal is recorded, the preview names the way forward. */
const api = useBillingApi();

async function fill(account: string, n: number) {
  for (let i = 0; i < n; i++) {
    const r = await api.request("POST", `/v1/accounts/${account}/members`, { email: `t${i}@team.test` });
    if (r.statusCode !== 201) throw new Error(r.body);
  }
}

const refusalsOf = (account: string) =>
  api.database.db
    .select()
    .from(domainEvents)
    .where(and(eq(domainEvents.accountId, account), eq(domainEvents.type, "member.invite_refused")))
    .orderBy(asc(domainEvents.seq));

/** The refusal's event, and its answer kept under the Idempotency-Key for replay, are all it writes. */
const withoutEvents = (snapshot: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(snapshot).filter(
      ([table]) => !table.endsWith(".domain_events") && !table.endsWith(".idempotency_keys"),
    ),
  );

describe("a refused invite records member.invite_refused and nothing else", () => {
  it("no free seat on Starter: one event with its payload; a replay of the key records no second", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 4);
    const before = await tableSnapshot(api.database);
    const body = { email: "dana@team.test", invited_by: c.adminUser };
    const headers = { "idempotency-key": "invite-dana-1" };
    const refused = await api.request("POST", `/v1/accounts/${c.account}/members`, body, headers);
    expect([refused.statusCode, refused.json().code]).toEqual([409, "seat_limit_reached"]);
    const after = await tableSnapshot(api.database);
    expect(withoutEvents(after)).toEqual(withoutEvents(before));
    const events = await refusalsOf(c.account);
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toEqual({
      subscription: c.subscription,
      email: "dana@team.test",
      user_id: null,
      role: "member",
      invited_by: c.adminUser,
      plan: "starter",
      seats: 5,
      seats_in_use: 5,
      reason: "no_free_seat",
      request: { idempotency_key: "invite-dana-1" },
    });

    const again = await api.request("POST", `/v1/accounts/${c.account}/members`, body, headers);
    expect([again.statusCode, again.json().code]).toEqual([409, "seat_limit_reached"]);
    expect(await tableSnapshot(api.database)).toEqual(after);

    // another attempt (another key, or none) is another moment
    await api.request("POST", `/v1/accounts/${c.account}/members`, body, {
      "idempotency-key": "invite-dana-2",
    });
    await api.request("POST", `/v1/accounts/${c.account}/members`, body);
    const all = await refusalsOf(c.account);
    expect(all.map((e) => (e.data as { request: unknown }).request)).toEqual([
      { idempotency_key: "invite-dana-1" },
      { idempotency_key: "invite-dana-2" },
      { idempotency_key: null },
    ]);
  });

  it("Free at its 3-seat maximum: reason plan_seat_maximum", async () => {
    const c = await customer(api, "free");
    await fill(c.account, 2);
    const refused = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "four@team.test",
    });
    expect([refused.statusCode, refused.json().code]).toEqual([409, "seat_limit_reached"]);
    const [event] = await refusalsOf(c.account);
    expect(event?.data).toMatchObject({
      plan: "free",
      seats: 3,
      seats_in_use: 3,
      reason: "plan_seat_maximum",
      invited_by: null,
      request: { idempotency_key: null },
    });
  });

  it("a person already a member is told so, and no refusal is recorded", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 4);
    const taken = await api.request("POST", `/v1/accounts/${c.account}/members`, { email: "t0@team.test" });
    expect(taken.json().code).toBe("member_exists");
    expect(await refusalsOf(c.account)).toHaveLength(0);
  });
});

describe("the invite preview names the cheapest path that admits the member", () => {
  it("a free seat: nothing to buy", async () => {
    const c = await customer(api, "free");
    const preview = await api.request("POST", `/v1/accounts/${c.account}/members/preview`, {
      email: "new@team.test",
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.json()).toMatchObject({
      needs_seat: false,
      path: null,
      plan: "free",
      quote: null,
      seats: 3,
      seats_in_use: 1,
    });
  });

  it("seats full, one more can be bought: add_seat, the seed's $15 sentence", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 4);
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "dana@team.test" })
    ).json();
    expect(preview).toMatchObject({
      needs_seat: true,
      path: "add_seat",
      plan: "starter",
      quote: { change: { to: { plan: "starter", seats: 6 } }, amount_due: 726 },
    });
    expect(preview.summary).toContain("Adding this member adds $15.00 to your monthly bill.");
  });

  it("at the plan's maximum (Free, 3 seats): change_plan to Starter, one checkout, then the invite", async () => {
    const c = await customer(api, "free");
    await fill(c.account, 2);
    const before = await refusalsOf(c.account);
    const response = await api.request("POST", `/v1/accounts/${c.account}/members/preview`, {
      email: "four@team.test",
    });
    expect(response.statusCode, response.body).toBe(200);
    const preview = response.json();
    expect(preview).toMatchObject({
      needs_seat: true,
      path: "change_plan",
      plan: "starter",
      seats: 3,
      seats_in_use: 3,
      quote: {
        change: { from: { plan: "free", seats: 3 }, to: { plan: "starter", seats: 5 } },
        amount_due: 4790,
        purpose: { type: "seat_for_invite", email: "four@team.test" },
      },
    });
    expect(preview.summary).toBe(
      "All 3 seats are taken, the most the Free plan has. Adding this member means upgrading to Starter, which adds $99.00 to your monthly bill. $47.90 is due today for the remaining 15 days of this cycle.",
    );
    // the preview is no refusal
    expect(await refusalsOf(c.account)).toEqual(before);

    const invited = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "four@team.test",
      authorize: { quote: preview.quote.id, member: c.admin },
    });
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json()).toMatchObject({ email: "four@team.test", status: "invited" });
    const sub = (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json();
    expect(sub).toMatchObject({ plan: "starter", seats: 5, seats_in_use: 4 });
    const invoices = (await api.request("GET", `/v1/invoices?account=${c.account}`)).json();
    expect(
      invoices.data.map((i: { status: string; amount_paid: number }) => [i.status, i.amount_paid]),
    ).toEqual([["paid", 4790]]);
  });

  it("the change_plan quote can also be bought by a checkout of its own, then the plain invite goes through", async () => {
    const c = await customer(api, "free");
    await fill(c.account, 2);
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "four@team.test" })
    ).json();
    const checkout = await api.request("POST", "/v1/checkout", { quote: preview.quote.id, member: c.admin });
    expect([checkout.statusCode, checkout.json().status], checkout.body).toEqual([200, "succeeded"]);
    const invited = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "four@team.test",
    });
    expect(invited.statusCode, invited.body).toBe(201);
    expect(await refusalsOf(c.account)).toHaveLength(0);
  });
});
