import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import { customer, useBillingApi } from "../support/billing-harness.ts";

const api = useBillingApi();

async function fill(account: string, free: number) {
  for (let i = 0; i < free; i++)
    await api.request("POST", `/v1/accounts/${account}/members`, { email: `t${i}@team.test` });
}

describe("seat invites with their cost", () => {
  it("says a seat is free when one is, and costs nothing", async () => {
    const c = await customer(api, "starter");
    const preview = await api.request("POST", `/v1/accounts/${c.account}/members/preview`, {
      email: "new@team.test",
    });
    expect(preview.json()).toMatchObject({ needs_seat: false, quote: null, seats: 5, seats_in_use: 1 });
  });

  it("quotes the extra seat when all are taken, then buys it and invites in one step", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 4);
    const refused = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "dana@team.test",
    });
    expect(refused.json().code).toBe("seat_limit_reached");
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "dana@team.test" })
    ).json();
    expect(preview).toMatchObject({
      needs_seat: true,
      seats: 5,
      seats_in_use: 5,
      quote: { amount_due: 726, purpose: { type: "seat_for_invite", email: "dana@team.test" } },
    });
    expect(preview.summary).toBe(
      "All 5 seats are taken. Adding this member adds $15.00 to your monthly bill. $7.26 is due today for the remaining 15 days of this cycle.",
    );
    const invited = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "dana@team.test",
      role: "member",
      authorize: { quote: preview.quote.id, member: c.admin },
    });
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json()).toMatchObject({ email: "dana@team.test", status: "invited" });
    const sub = (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json();
    expect(sub).toMatchObject({ seats: 6, seats_in_use: 6 });
    expect((await api.sandbox.collected()).filter((p) => p.amount === 726).length).toBeGreaterThanOrEqual(1);
    const invoices = (await api.request("GET", `/v1/invoices?account=${c.account}`)).json();
    expect(invoices.data).toHaveLength(1);
    expect(invoices.data[0]).toMatchObject({ status: "paid", amount_paid: 726 });
  });

  it("refuses a non-admin with admin_approval_required and tells the admins", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 3);
    const user = (
      await api.request("POST", `/v1/accounts/${c.account}/members`, {
        email: "u@team.test",
        user_id: "u-1",
        status: "active",
      })
    ).json();
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "eve@team.test" })
    ).json();
    const charges = api.sandbox.requests.length;
    const refused = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "eve@team.test",
      authorize: { quote: preview.quote.id, user_id: "u-1" },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe("admin_approval_required");
    const [event] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "admin_approval.requested")));
    expect(event?.data).toMatchObject({
      requested_by: "u-1",
      invite_email: "eve@team.test",
      admins: [c.admin],
    });
    expect(user.role).toBe("member");
    expect(api.sandbox.requests.length).toBe(charges);
  });

  it("refuses an invite it could not complete before buying its seat", async () => {
    const c = await customer(api, "starter");
    await fill(c.account, 4);
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "dup@team.test" })
    ).json();
    const authorize = { quote: preview.quote.id, member: c.admin };
    const charges = api.sandbox.requests.length;
    const noUser = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "dup@team.test",
      status: "active",
      authorize,
    });
    expect([noUser.statusCode, noUser.json().code, noUser.json().param]).toEqual([
      400,
      "invalid_request",
      "user_id",
    ]);
    // the email became a member meanwhile (a seat freed and taken again)
    const members = (await api.request("GET", `/v1/accounts/${c.account}/members`)).json().data;
    await api.request("DELETE", `/v1/accounts/${c.account}/members/${members[0].id}`);
    await api.request("POST", `/v1/accounts/${c.account}/members`, { email: "DUP@team.test" });
    const taken = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "dup@team.test",
      authorize,
    });
    expect([taken.statusCode, taken.json().code]).toEqual([409, "member_exists"]);
    expect(api.sandbox.requests.length).toBe(charges);
    const sub = (await api.request("GET", `/v1/subscriptions/${c.subscription}`)).json();
    expect(sub.seats).toBe(5);
  });

  it("refuses a quote of another account or for another email", async () => {
    const c = await customer(api, "starter");
    const other = await customer(api, "starter");
    await fill(c.account, 4);
    await fill(other.account, 4);
    const theirs = (
      await api.request("POST", `/v1/accounts/${other.account}/members/preview`, { email: "x@team.test" })
    ).json();
    const foreign = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "x@team.test",
      authorize: { quote: theirs.quote.id, member: c.admin },
    });
    expect(foreign.statusCode).toBe(404);
    const mine = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "y@team.test" })
    ).json();
    const wrong = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "z@team.test",
      authorize: { quote: mine.quote.id, member: c.admin },
    });
    expect(wrong.json().code).toBe("quote_mismatch");
  });
});
