import { readFile } from "node:fs/promises";
import type { InjectOptions } from "fastify";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { recoverCheckouts } from "../../src/services/checkout/index.ts";
import { retryInvoicePayments } from "../../src/services/invoices/collection.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { applyScheduledChanges } from "../../src/services/subscriptions/scheduled-changes.ts";
import { customer, useBillingApi } from "../support/billing-harness.ts";

/**
 * Every write path of the API and the jobs, on ONE database connection. Code that waits for a
 * second connection while its transaction holds the first (a cache loaded beside the
 * transaction, a service handed the database instead of `tx`) cannot finish here: on PGlite (one
 * connection) it hangs, on PostgreSQL (a pool of one) it fails after the connection timeout with
 * 503 database_unavailable. Under load on a real pool, the same code hangs the process once every
 * connection is held that way (see metering-state.test.ts for the instance found in metering).
 */
const api = useBillingApi({ poolSize: 1, connectionTimeoutMs: 2_000 });

/** A request that must answer `status`, and answer at all (a hang would never settle). */
async function expectStatus(
  status: number,
  method: InjectOptions["method"],
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
) {
  let timer: NodeJS.Timeout | undefined;
  const res = await Promise.race([
    api.request(method, url, body, headers),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${method} ${url}: no answer in 10 s (a transaction waits on the pool)`)),
        10_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(status);
  return res.json();
}

/** A job run that must finish (a hang would never settle). */
async function finishes<T>(name: string, run: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    run,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: did not finish in 20 s`)), 20_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

let keys = 0;
const key = () => ({ "idempotency-key": `one-connection-${++keys}` });

describe("every write path on one database connection", () => {
  it("accounts, subscriptions, members and payment methods, with and without an Idempotency-Key", async () => {
    const c = await customer(api, "starter");
    const a = c.account;
    await expectStatus(201, "POST", "/v1/accounts", { external_id: "one-conn-a", name: "A" }, key());
    await expectStatus(200, "PATCH", `/v1/accounts/${a}`, { name: "Renamed", properties: { tier: "smb" } });
    await expectStatus(200, "PATCH", `/v1/subscriptions/${c.subscription}`, { seats: 6 });
    const member = await expectStatus(
      201,
      "POST",
      `/v1/accounts/${a}/members`,
      { email: "m@one-conn.test" },
      key(),
    );
    await expectStatus(200, "PATCH", `/v1/accounts/${a}/members/${member.id}`, { role: "admin" });
    await expectStatus(200, "DELETE", `/v1/accounts/${a}/members/${member.id}`);
    const pm = await expectStatus(
      201,
      "POST",
      `/v1/accounts/${a}/payment_methods`,
      { token: "sandbox_visa" },
      key(),
    );
    await expectStatus(200, "DELETE", `/v1/accounts/${a}/payment_methods/${pm.id}`);
    const other = await customer(api, "free");
    await expectStatus(
      200,
      "POST",
      `/v1/subscriptions/${other.subscription}/cancel`,
      { at_period_end: false },
      key(),
    );
  });

  it("usage events, Segment, checks that record, gauges (the entitlement cache made stale by a change first)", async () => {
    const c = await customer(api, "starter");
    const a = c.account;
    await expectStatus(200, "GET", `/v1/accounts/${a}/entitlements`);
    // the plan changed: the cached entitlements are dropped, and recomputed inside the next transactions
    await expectStatus(200, "PATCH", `/v1/subscriptions/${c.subscription}`, { plan: "pro" });
    const events = { events: [{ id: "ev-1", account: a, event: "api.call" }] };
    expect(await expectStatus(200, "POST", "/v1/events", events, key())).toMatchObject({ accepted: 1 });
    const record = { account: a, feature: "exports", record: true };
    expect(await expectStatus(200, "POST", "/v1/check", record, key())).toMatchObject({ recorded: true });
    expect(await expectStatus(200, "POST", "/v1/check", record)).toMatchObject({ recorded: true });
    await expectStatus(200, "PATCH", `/v1/subscriptions/${c.subscription}`, { plan: "starter" });
    // denied: the denial is recorded in the key's transaction
    expect(await expectStatus(200, "POST", "/v1/check", { account: a, feature: "sso" }, key())).toMatchObject(
      {
        allowed: false,
      },
    );
    await expectStatus(200, "PUT", `/v1/accounts/${a}/usage/projects`, { value: 3 });
    const basic = { authorization: `Basic ${Buffer.from(`${api.secret}:`).toString("base64")}` };
    const account = (await expectStatus(200, "GET", `/v1/accounts/${a}`)).external_id as string;
    const track = { messageId: "seg-1", userId: "u-1", event: "api.call", context: { groupId: account } };
    expect(await expectStatus(200, "POST", "/v1/segment/track", track, { ...basic, ...key() })).toMatchObject(
      {
        accepted: 1,
      },
    );
    const usage = await expectStatus(200, "GET", `/v1/accounts/${a}/entitlements`);
    expect(usage.features).toMatchObject({
      api_calls: { used: 2 },
      exports: { used: 2 },
      projects: { used: 3 },
    });
  });

  it("quotes, checkouts, seat invites with their purchase, an admin's approval asked", async () => {
    const c = await customer(api, "starter");
    const a = c.account;
    // with a key, the quote is set up and stored in the key's transaction
    const seat = await expectStatus(201, "POST", "/v1/quotes", { account: a, seats: 6 }, key());
    await expectStatus(200, "POST", "/v1/checkout", { quote: seat.id, member: c.admin }, key());
    const up = await expectStatus(201, "POST", "/v1/quotes", { account: a, plan: "pro" });
    await expectStatus(200, "POST", "/v1/checkout", { quote: up.id, member: c.admin });
    const down = await expectStatus(201, "POST", "/v1/quotes", { account: a, plan: "starter" });
    expect(down).toMatchObject({ timing: "period_end" });
    await expectStatus(200, "POST", "/v1/checkout", { quote: down.id, member: c.admin });
    const plain = { email: "plain@one-conn.test", status: "active", user_id: "u-plain" };
    await expectStatus(201, "POST", `/v1/accounts/${a}/members`, plain);
    // fill the seats, then buy one with the invite
    const subscription = await expectStatus(200, "GET", `/v1/subscriptions/${c.subscription}`);
    for (let i = subscription.seats_in_use; i < subscription.seats; i++)
      await expectStatus(201, "POST", `/v1/accounts/${a}/members`, { email: `t${i}@one-conn.test` });
    const full = await expectStatus(409, "POST", `/v1/accounts/${a}/members`, { email: "new@one-conn.test" });
    expect(full).toMatchObject({ code: "seat_limit_reached" });
    const preview = await expectStatus(
      200,
      "POST",
      `/v1/accounts/${a}/members/preview`,
      { email: "new@one-conn.test" },
      key(),
    );
    expect(preview).toMatchObject({ needs_seat: true });
    await expectStatus(
      201,
      "POST",
      `/v1/accounts/${a}/members`,
      { email: "new@one-conn.test", authorize: { quote: preview.quote.id, member: c.admin } },
      key(),
    );
    // a non-admin's purchase is refused, and the admins are asked (in a transaction of its own)
    const again = await expectStatus(200, "POST", `/v1/accounts/${a}/members/preview`, {
      email: "late@one-conn.test",
    });
    const refused = await expectStatus(403, "POST", `/v1/accounts/${a}/members`, {
      email: "late@one-conn.test",
      authorize: { quote: again.quote.id, user_id: "u-plain" },
    });
    expect(refused).toMatchObject({ code: "admin_approval_required" });
  });

  it("the jobs: renewals, dunning, scheduled changes, recovery; paying, voiding and writing off invoices", async () => {
    const paying = await customer(api, "starter");
    const declining = await customer(api, "starter", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      token: "sandbox_insufficient_funds",
    });
    const voiding = await customer(api, "starter", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      token: "sandbox_insufficient_funds",
    });
    const writtenOff = await customer(api, "starter", {
      billing_cycle_anchor: "2026-01-01T00:00:00Z",
      token: "sandbox_insufficient_funds",
    });
    const down = await expectStatus(201, "POST", "/v1/quotes", {
      account: paying.account,
      plan: "free",
      seats: 3,
    });
    await expectStatus(200, "POST", "/v1/checkout", { quote: down.id, member: paying.admin });
    const ending = await customer(api, "starter");
    await expectStatus(200, "POST", `/v1/subscriptions/${ending.subscription}/cancel`, {});
    api.clock.set("2026-02-01T00:00:05Z");
    expect(await finishes("scheduled changes", applyScheduledChanges(api.billing))).toBeGreaterThanOrEqual(1);
    const renewed = await finishes("renewals", renewSubscriptions(api.billing));
    expect(renewed.failed).toBeGreaterThanOrEqual(3);
    api.clock.set("2026-02-02T00:00:10Z");
    expect((await finishes("dunning", retryInvoicePayments(api.billing))).attempted).toBeGreaterThanOrEqual(
      3,
    );
    await finishes("recovery", recoverCheckouts(api.billing));
    const openOf = async (account: string) => {
      const list = await expectStatus(200, "GET", `/v1/invoices?account=${account}`);
      return list.data.find((i: { status: string }) => i.status === "open").id as string;
    };
    const card = await expectStatus(201, "POST", `/v1/accounts/${declining.account}/payment_methods`, {
      token: "sandbox_visa",
    });
    const pay = `/v1/invoices/${await openOf(declining.account)}/pay`;
    expect(await expectStatus(200, "POST", pay, { payment_method: card.id }, key())).toMatchObject({
      status: "paid",
    });
    await expectStatus(200, "POST", `/v1/invoices/${await openOf(voiding.account)}/void`, {}, key());
    await expectStatus(
      200,
      "POST",
      `/v1/invoices/${await openOf(writtenOff.account)}/mark_uncollectible`,
      {},
    );
  });

  it("the catalog applied again, changed (every cache dropped), and an apply that changes nothing", async () => {
    const c = await customer(api, "starter");
    const demo = parse(await readFile(DEMO_CATALOG_FILE, "utf8"));
    demo.plans.pro.prices.month.base = 27_900;
    expect(await expectStatus(200, "POST", "/v1/catalog", demo, key())).toMatchObject({ changed: true });
    expect(await expectStatus(200, "POST", "/v1/catalog", demo)).toMatchObject({ changed: false });
    await expectStatus(
      200,
      "POST",
      "/v1/check",
      { account: c.account, feature: "exports", record: true },
      key(),
    );
    const quote = await expectStatus(201, "POST", "/v1/quotes", { account: c.account, plan: "pro" }, key());
    expect(quote.recurring.after.amount).toBe(27_900);
  });
});
