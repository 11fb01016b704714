import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { accountOnPlan, useTestApi } from "../support/harness.ts";

const api = useTestApi();

async function newAccount(name = "Sub Co") {
  const response = await api.request("POST", "/v1/accounts", {
    external_id: `${name}-${Math.random()}`,
    name,
  });
  return response.json().id as string;
}

describe("subscriptions", () => {
  it("creates a subscription with the plan's included seats and prices it", async () => {
    const account = await newAccount();
    const response = await api.request("POST", "/v1/subscriptions", {
      account,
      plan: "starter",
      seats: 7,
      add_ons: [{ key: "advanced_reporting" }],
    });
    expect(response.statusCode).toBe(201);
    const sub = response.json();
    expect(sub).toMatchObject({
      object: "subscription",
      account,
      plan: "starter",
      plan_version: 1,
      interval: "month",
      seats: 7,
      seats_included: 5,
      seats_in_use: 0,
      status: "active",
      currency: "usd",
      add_ons: [{ key: "advanced_reporting", quantity: 1, version: 1 }],
      // $99 base + 2 extra seats × $15 + $29 add-on
      recurring: { amount: 9900 + 3000 + 2900, base: 9900, seats: 3000, interval: "month" },
      billing_cycle_anchor: "2026-01-16T12:00:00.000Z",
      current_period_start: "2026-01-16T12:00:00.000Z",
      current_period_end: "2026-02-16T12:00:00.000Z",
      cancel_at_period_end: false,
    });
    expect(sub.id).toMatch(/^sub_/);
    const account_ = (await api.request("GET", `/v1/accounts/${account}`)).json();
    expect(account_.subscription).toBe(sub.id);
  });

  it("follows the billing-cycle anchor with month-end clamping: the 31st bills on Feb 28 and returns to Mar 31", async () => {
    const account = await newAccount();
    api.clock.set("2026-03-15T00:00:00Z");
    const sub = (
      await api.request("POST", "/v1/subscriptions", {
        account,
        plan: "pro",
        billing_cycle_anchor: "2026-01-31T09:30:00Z",
      })
    ).json();
    expect(sub.current_period_start).toBe("2026-02-28T09:30:00.000Z");
    expect(sub.current_period_end).toBe("2026-03-31T09:30:00.000Z");
    api.clock.set("2026-03-31T09:30:00Z");
    const later = (await api.request("GET", `/v1/subscriptions/${sub.id}`)).json();
    expect(later.current_period_start).toBe("2026-03-31T09:30:00.000Z");
    expect(later.current_period_end).toBe("2026-04-30T09:30:00.000Z");
    api.clock.set("2026-01-16T12:00:00Z");
  });

  it("runs a trial as its own period, then anchors billing at the trial's end", async () => {
    const account = await newAccount();
    const sub = (
      await api.request("POST", "/v1/subscriptions", { account, plan: "pro", trial_days: 14 })
    ).json();
    expect(sub).toMatchObject({
      status: "trialing",
      trial_end: "2026-01-30T12:00:00.000Z",
      current_period_end: "2026-01-30T12:00:00.000Z",
      billing_cycle_anchor: "2026-01-30T12:00:00.000Z",
    });
    api.clock.set("2026-02-01T00:00:00Z");
    const after = (await api.request("GET", `/v1/subscriptions/${sub.id}`)).json();
    expect(after).toMatchObject({
      status: "active",
      current_period_start: "2026-01-30T12:00:00.000Z",
      current_period_end: "2026-02-28T12:00:00.000Z",
    });
    api.clock.set("2026-01-16T12:00:00Z");
  });

  it("cancels at the end of the period by default, and immediately when asked", async () => {
    const { subscription } = await accountOnPlan(api, "starter");
    const scheduled = (await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, {})).json();
    expect(scheduled).toMatchObject({
      status: "active",
      cancel_at_period_end: true,
      cancel_at: "2026-02-16T12:00:00.000Z",
    });
    api.clock.set("2026-02-16T12:00:00Z");
    const ended = (await api.request("GET", `/v1/subscriptions/${subscription}`)).json();
    expect(ended).toMatchObject({
      status: "canceled",
      ended_at: "2026-02-16T12:00:00.000Z",
      current_period_end: null,
    });
    api.clock.set("2026-01-16T12:00:00Z");

    const other = await accountOnPlan(api, "pro");
    const now = (
      await api.request("POST", `/v1/subscriptions/${other.subscription}/cancel`, { at_period_end: false })
    ).json();
    expect(now).toMatchObject({ status: "canceled", ended_at: "2026-01-16T12:00:00.000Z" });
    const again = await api.request("PATCH", `/v1/subscriptions/${other.subscription}`, { seats: 20 });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("subscription_canceled");
    // a canceled account can subscribe again
    const resubscribed = await api.request("POST", "/v1/subscriptions", {
      account: other.account,
      plan: "starter",
    });
    expect(resubscribed.statusCode).toBe(201);
  });

  it("allows one live subscription per account", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const second = await api.request("POST", "/v1/subscriptions", { account, plan: "pro" });
    expect(second.statusCode).toBe(409);
    expect(second.json().code).toBe("subscription_exists");
  });

  it("rejects unknown plans and add-ons, unavailable add-ons and intervals, and seat caps, naming the field", async () => {
    const account = await newAccount();
    const cases: [unknown, number, string, string][] = [
      [{ account, plan: "platinum" }, 422, "unknown_plan", "plan"],
      [{ account, plan: "free", interval: "year" }, 422, "interval_not_available", "interval"],
      [{ account, plan: "free", seats: 4 }, 422, "seat_quantity_above_plan_maximum", "seats"],
      [
        { account, plan: "starter", add_ons: [{ key: "warp_drive" }] },
        422,
        "unknown_add_on",
        "add_ons[0].key",
      ],
      [
        { account, plan: "starter", add_ons: [{ key: "sso" }] },
        422,
        "add_on_not_available",
        "add_ons[0].key",
      ],
      [
        { account, plan: "pro", add_ons: [{ key: "sso", quantity: 2 }] },
        422,
        "add_on_quantity_invalid",
        "add_ons[0].quantity",
      ],
      [
        { account, plan: "pro", add_ons: [{ key: "sso" }, { key: "sso" }] },
        400,
        "duplicate_add_on",
        "add_ons[1].key",
      ],
      [{ account: "acct_missing", plan: "pro" }, 404, "resource_not_found", "id"],
      [
        { account, plan: "pro", billing_cycle_anchor: "2030-01-01T00:00:00Z" },
        400,
        "invalid_billing_cycle_anchor",
        "billing_cycle_anchor",
      ],
      [{ account, plan: "pro", seats: -1 }, 400, "invalid_request", "seats"],
    ];
    for (const [body, status, code, param] of cases) {
      const response = await api.request("POST", "/v1/subscriptions", body);
      expect({
        status: response.statusCode,
        code: response.json().code,
        param: response.json().param,
      }).toEqual({ status, code, param });
    }
    const list = (await api.request("GET", `/v1/subscriptions?account=${account}`)).json();
    expect(list.data).toHaveLength(0);
  });

  it("changes seats and add-ons administratively, bumping the revision and recording the change", async () => {
    const { account, subscription } = await accountOnPlan(api, "pro", {
      add_ons: [{ key: "storage_pack", quantity: 2 }],
    });
    const before = (await api.request("GET", `/v1/subscriptions/${subscription}`)).json();
    const response = await api.request("PATCH", `/v1/subscriptions/${subscription}`, {
      seats: 12,
      add_ons: [{ key: "storage_pack", quantity: 3 }, { key: "premium_support" }],
    });
    expect(response.statusCode).toBe(200);
    const after = response.json();
    expect(after.revision).toBe(before.revision + 1);
    // $249 + 2 × $15 seats = $279 plan cost; storage 3 × $10; premium support 15% of $279 = $41.85
    expect(after.recurring).toMatchObject({ amount: 27900 + 3000 + 4185, seats: 3000 });
    expect(after.recurring.add_ons).toEqual([
      { key: "premium_support", amount: 4185 },
      { key: "storage_pack", amount: 3000 },
    ]);
    const events = await api.database.db.query.domainEvents.findMany({
      where: (e, { eq, and }) => and(eq(e.accountId, account), eq(e.type, "subscription.updated")),
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toMatchObject({ previous: { seats: 10 }, subscription: { seats: 12 } });
  });

  it("keeps a grandfathered price version until the subscription is moved explicitly", async () => {
    const { subscription } = await accountOnPlan(api, "starter");
    const catalog = parse(await readFile(DEMO_CATALOG_FILE, "utf8"));
    catalog.plans.starter.prices.month.base = 11900;
    const applied = await api.request("POST", "/v1/catalog", catalog);
    expect(applied.statusCode).toBe(200);
    expect(applied.json().changes).toContainEqual({
      kind: "plan",
      key: "starter",
      change: "new_version",
      version: 2,
    });

    const kept = (await api.request("GET", `/v1/subscriptions/${subscription}`)).json();
    expect(kept).toMatchObject({ plan_version: 1, recurring: { amount: 9900 } });
    const fresh = await accountOnPlan(api, "starter");
    expect((await api.request("GET", `/v1/subscriptions/${fresh.subscription}`)).json()).toMatchObject({
      plan_version: 2,
      recurring: { amount: 11900 },
    });

    const moved = (
      await api.request("PATCH", `/v1/subscriptions/${subscription}`, { move_to_latest_version: true })
    ).json();
    expect(moved).toMatchObject({ plan_version: 2, recurring: { amount: 11900 } });
  });

  it("pages a status filter across many non-matching subscriptions without losing any", async () => {
    const trialIds: string[] = [];
    for (let i = 0; i < 15; i++) {
      const account = await newAccount(`Mix ${i}`);
      const trial = i % 5 === 0;
      const sub = (
        await api.request("POST", "/v1/subscriptions", { account, plan: "pro", trial_days: trial ? 30 : 0 })
      ).json();
      if (trial) trialIds.push(sub.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/subscriptions?status=trialing&limit=1${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await api.request("GET", url)).json();
      seen.push(...page.data.map((s: { id: string; status: string }) => s.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(trialIds));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("lists subscriptions by account and by status", async () => {
    const trial = await newAccount("Trial Co");
    await api.request("POST", "/v1/subscriptions", { account: trial, plan: "pro", trial_days: 7 });
    const trialing = (await api.request("GET", "/v1/subscriptions?status=trialing&limit=100")).json();
    expect(trialing.data.length).toBeGreaterThan(0);
    expect(trialing.data.every((s: { status: string }) => s.status === "trialing")).toBe(true);
    const byAccount = (await api.request("GET", `/v1/subscriptions?account=${trial}`)).json();
    expect(byAccount.data).toHaveLength(1);
  });
});
