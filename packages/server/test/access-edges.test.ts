import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents } from "../src/db/schema/index.ts";
import { type BillingApi, chargesFor, customer, quoteOf, useBillingApi } from "./billing-harness.ts";

/** Who may buy, what a revoked key can still read, and what the invoice page lets a browser do. */
const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };

describe("only an active admin authorises a charge", () => {
  it("an admin still invited is refused with 403 admin_not_active, charging nothing; once active, the same quote goes through", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const invited = (
      await api.request("POST", `/v1/accounts/${c.account}/members`, {
        email: "new-admin@edges.test",
        role: "admin",
        user_id: "new-admin",
      })
    ).json();
    expect(invited).toMatchObject({ role: "admin", status: "invited" });
    const q = await quoteOf(api, c.account, { seats: 6 });
    for (const actor of [{ member: invited.id }, { user_id: "new-admin" }]) {
      const refused = await api.request("POST", "/v1/checkout", { quote: q.id, ...actor });
      expect([refused.statusCode, refused.json().code, refused.json().param]).toEqual([
        403,
        "admin_not_active",
        Object.keys(actor)[0],
      ]);
    }
    expect(chargesFor(api, c.account)).toEqual([]);
    // not a request for approval: the invited person is an admin, just not one who has joined
    const asked = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "admin_approval.requested")));
    expect(asked).toEqual([]);

    await api.request("PATCH", `/v1/accounts/${c.account}/members/${invited.id}`, { status: "active" });
    const done = await api.request("POST", "/v1/checkout", { quote: q.id, member: invited.id });
    expect(done.json()).toMatchObject({ status: "succeeded", authorized_by: invited.id });
  });

  it("an invite that would buy its seat, authorised by an invited admin, is refused before any charge", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const invited = (
      await api.request("POST", `/v1/accounts/${c.account}/members`, {
        email: "pending-admin@edges.test",
        role: "admin",
      })
    ).json();
    for (let i = 0; i < 3; i++)
      await api.request("POST", `/v1/accounts/${c.account}/members`, { email: `t${i}@edges.test` });
    const preview = (
      await api.request("POST", `/v1/accounts/${c.account}/members/preview`, { email: "x@edges.test" })
    ).json();
    const refused = await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "x@edges.test",
      authorize: { quote: preview.quote.id, member: invited.id },
    });
    expect([refused.statusCode, refused.json().code]).toEqual([403, "admin_not_active"]);
    expect(chargesFor(api, c.account)).toEqual([]);
  });

  it("a non-admin's request for approval goes to the active admins only", async () => {
    const c = await customer(api, "starter", ANCHOR);
    await api.request("POST", `/v1/accounts/${c.account}/members`, {
      email: "later-admin@edges.test",
      role: "admin",
    });
    const plain = (
      await api.request("POST", `/v1/accounts/${c.account}/members`, {
        email: "plain@edges.test",
        user_id: "plain",
        status: "active",
      })
    ).json();
    const q = await quoteOf(api, c.account, { seats: 7 });
    const refused = await api.request("POST", "/v1/checkout", { quote: q.id, member: plain.id });
    expect(refused.json().code).toBe("admin_approval_required");
    const [asked] = await api.database.db
      .select()
      .from(domainEvents)
      .where(and(eq(domainEvents.accountId, c.account), eq(domainEvents.type, "admin_approval.requested")));
    expect(asked?.data).toMatchObject({ admins: [c.admin] });
  });
});
