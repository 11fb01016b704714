import { sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { gatewaySet } from "../../src/gateways/gateway.ts";
import { type BillingApi, customer, useBillingApi } from "../support/billing-harness.ts";

/**
 * Quotes are priced from the in-memory billing-state cache. These scenarios would fail if the cache
 * kept what a write made stale: each quotes first (filling the cache), changes something a price
 * depends on, and quotes again.
 */
const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };

async function quote(account: string, change: Record<string, unknown>, app?: FastifyInstance) {
  const request = { account, ...change };
  if (!app) return api.request("POST", "/v1/quotes", request);
  return app.inject({
    method: "POST",
    url: "/v1/quotes",
    headers: { authorization: `Bearer ${api.secret}` },
    payload: request,
  });
}
const addMember = (account: string, n: number) =>
  api.request("POST", `/v1/accounts/${account}/members`, {
    email: `member${n}@${account.toLowerCase().replace("_", "-")}.test`,
    role: "member",
    status: "active",
    user_id: `user_${n}_${account}`,
  });

describe("quotes from the billing-state cache see this node's writes at once", () => {
  it("a quote stored by group commit reads back exactly as it was answered", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const made = await Promise.all(
      [6, 7, 8].map((seats) => quote(c.account, { seats, add_ons: [{ key: "advanced_reporting" }] })),
    );
    for (const response of made) {
      expect(response.statusCode).toBe(201);
      expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
      const read = await api.request("GET", `/v1/quotes/${response.json().id}`);
      expect(read.json()).toEqual(response.json());
    }
  });

  it("quotes commit without waiting for the WAL flush, and leave every pooled connection durable", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const made = await Promise.all([6, 7, 8, 9, 10, 11].map((seats) => quote(c.account, { seats })));
    expect(made.map((r) => r.statusCode)).toEqual(Array(6).fill(201));
    // synchronous_commit is off for the quotes' own statements only: as many queries at once as the
    // pool has connections, each holding its connection a moment, all see the server's default
    const settings = await Promise.all(
      Array.from({ length: 30 }, () =>
        api.database.db.execute(
          sql`select current_setting('synchronous_commit') as value, pg_sleep(0.02) is null as slept`,
        ),
      ),
    );
    const values = settings.map((r) => (r as unknown as { rows: { value: string }[] }).rows[0]?.value);
    expect(values).toEqual(Array(30).fill("on"));
  });

  it("a member added since the last quote counts as a seat in use", async () => {
    const c = await customer(api, "starter", ANCHOR); // 5 seats, 1 member (the admin)
    expect((await quote(c.account, { seats: 2 })).statusCode).toBe(201);
    expect((await addMember(c.account, 1)).statusCode).toBe(201);
    expect((await addMember(c.account, 2)).statusCode).toBe(201);
    const refused = await quote(c.account, { seats: 2 });
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ code: "seat_quantity_below_usage" });
  });

  it("after a checkout the next quote starts from the changed subscription", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const first = (await quote(c.account, { seats: 6 })).json();
    const done = await api.request("POST", "/v1/checkout", { quote: first.id, member: c.admin });
    expect(done.json().status).toBe("succeeded");
    const next = (await quote(c.account, { seats: 7 })).json();
    expect(next.change.from.seats).toBe(6);
    expect(next.lines).toMatchObject([{ item: "seats", quantity: 1, amount: 726 }]);
  });

  it("a scheduled downgrade that falls due between two quotes is applied before the second", async () => {
    const c = await customer(api, "pro", ANCHOR);
    const down = (await quote(c.account, { plan: "starter" })).json();
    expect(down.timing).toBe("period_end");
    expect((await api.request("POST", "/v1/checkout", { quote: down.id, member: c.admin })).statusCode).toBe(
      200,
    );
    expect((await quote(c.account, { seats: 12 })).json().change.from.plan).toBe("pro");
    api.clock.set("2026-02-01T00:00:01Z");
    try {
      const after = (await quote(c.account, { seats: 6 })).json();
      expect(after.change.from.plan).toBe("starter");
    } finally {
      api.clock.set("2026-01-17T00:00:00Z");
    }
  });
});

describe("another node's writes", () => {
  let lagging: FastifyInstance;
  let prompt: FastifyInstance;
  beforeAll(async () => {
    const options = { db: api.database.db, clock: api.clock, logLevel: "silent" as const };
    // a node that reads the domain-event log only once a minute: its cache stays stale meanwhile
    lagging = await buildApp({
      ...options,
      gateways: gatewaySet(api.gateway),
      metering: { pollIntervalMs: 60_000 },
    });
    prompt = await buildApp({ ...options, gateways: gatewaySet(api.gateway) });
  });
  afterAll(async () => {
    await lagging?.close();
    await prompt?.close();
  });

  it("reach a node's quotes within its poll of the domain-event log", async () => {
    const c = await customer(api, "starter", ANCHOR);
    expect((await quote(c.account, { seats: 2 }, prompt)).statusCode).toBe(201);
    await addMember(c.account, 1);
    await addMember(c.account, 2);
    let status = 201;
    for (let i = 0; i < 40 && status === 201; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await quote(c.account, { seats: 2 }, prompt)).statusCode;
    }
    expect(status).toBe(422);
  });

  it("a quote priced from a stale cache is refused at checkout, and nothing is charged", async () => {
    const c = await customer(api, "starter", ANCHOR);
    expect((await quote(c.account, { seats: 6 }, lagging)).statusCode).toBe(201); // cached: 5 seats
    const elsewhere = (await quote(c.account, { seats: 8 })).json();
    expect(
      (await api.request("POST", "/v1/checkout", { quote: elsewhere.id, member: c.admin })).statusCode,
    ).toBe(200);
    const stale = (await quote(c.account, { seats: 9 }, lagging)).json();
    expect(stale.change.from.seats).toBe(5); // the lagging node has not heard of the change yet
    const charged = (await api.sandbox.collected()).length;
    const refused = await api.request("POST", "/v1/checkout", { quote: stale.id, member: c.admin });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: "quote_stale" });
    expect((await api.sandbox.collected()).length).toBe(charged);
  });
});
