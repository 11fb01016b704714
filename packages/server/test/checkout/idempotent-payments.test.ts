import { describe, expect, it } from "vitest";
import { recoverCheckouts } from "../../src/services/checkout/index.ts";
import {
  type BillingApi,
  chargesFor,
  customer,
  INVALID_KEYS,
  ProcessCrash,
  quoteOf,
  snapshotOf,
  useBillingApi,
} from "../support/billing-harness.ts";

/**
 * The Idempotency-Key of the routes that move money (checkout, an invite that buys its seat,
 * confirming a checkout; paying an invoice is in idempotent-invoice-pay.test.ts): the header is
 * checked and the key claimed with its request's hash before anything is charged, so a refused
 * request has changed nothing and one key never pays for two requests. On PGlite and PostgreSQL;
 * the concurrent cases are real races on PostgreSQL.
 */
const api: BillingApi = useBillingApi();
const ANCHOR = { billing_cycle_anchor: "2026-01-01T00:00:00Z" };
const NOW = "2026-01-17T00:00:00Z";

const post = (url: string, body: unknown, headers: Record<string, string | string[]> = {}) =>
  api.request("POST", url, body, headers);
const key = (k: string | string[]) => ({ "idempotency-key": k });

/** An account whose seats are all taken, with the quote of the seat an invite needs. */
async function fullAccount(email: string) {
  const c = await customer(api, "starter", ANCHOR);
  for (let i = 0; i < 4; i++)
    expect((await post(`/v1/accounts/${c.account}/members`, { email: `t${i}@full.test` })).statusCode).toBe(
      201,
    );
  const preview = await post(`/v1/accounts/${c.account}/members/preview`, { email });
  expect(preview.json()).toMatchObject({ needs_seat: true });
  return { ...c, quote: preview.json().quote.id as string };
}

const invoiceCount = async (account: string) =>
  (await api.database.executeSql("select count(*)::int as n from invoices where account_id = $1", [account]))
    .rows[0]?.n;
const membersOf = async (account: string) =>
  (await api.request("GET", `/v1/accounts/${account}/members?limit=100`)).json().data as { email: string }[];
const seatsOf = async (subscription: string) =>
  (await api.request("GET", `/v1/subscriptions/${subscription}`)).json().seats as number;

describe("an invalid Idempotency-Key on a paying route changes nothing", () => {
  it("POST /v1/checkout: 400 invalid_idempotency_key, nothing charged, applied or recorded", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 6 });
    for (const [form, value] of INVALID_KEYS) {
      const before = await snapshotOf(api);
      const refused = await post("/v1/checkout", { quote: q.id, member: c.admin }, key(value));
      expect([refused.statusCode, refused.json().code, refused.json().param], form).toEqual([
        400,
        "invalid_idempotency_key",
        "Idempotency-Key",
      ]);
      expect(await snapshotOf(api), form).toEqual(before);
    }
    expect(await chargesFor(api, c.account)).toEqual([]);
    expect(await seatsOf(c.subscription)).toBe(5);
    // the same request with a valid key goes through, once
    const done = await post("/v1/checkout", { quote: q.id, member: c.admin }, key("ok-checkout"));
    expect(done.json()).toMatchObject({ status: "succeeded", amount: 726 });
  });

  it("POST /v1/accounts/{id}/members with authorize: no seat bought, no member", async () => {
    const c = await fullAccount("dana@full.test");
    const invite = { email: "dana@full.test", authorize: { quote: c.quote, member: c.admin } };
    for (const [form, value] of INVALID_KEYS) {
      const before = await snapshotOf(api);
      const refused = await post(`/v1/accounts/${c.account}/members`, invite, key(value));
      expect([refused.statusCode, refused.json().code], form).toEqual([400, "invalid_idempotency_key"]);
      expect(await snapshotOf(api), form).toEqual(before);
    }
    expect(await chargesFor(api, c.account)).toEqual([]);
    expect(await seatsOf(c.subscription)).toBe(5);
    expect((await membersOf(c.account)).map((m) => m.email)).not.toContain("dana@full.test");
  });

  it("POST /v1/checkouts/{id}/confirm: the checkout is not settled", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_requires_action" });
    const q = await quoteOf(api, c.account, { seats: 6 });
    const pending = (await post("/v1/checkout", { quote: q.id, member: c.admin })).json();
    expect(pending.status).toBe("requires_action");
    await api.sandbox.completeAction(pending.payment);
    for (const [form, value] of INVALID_KEYS) {
      const before = await snapshotOf(api);
      const refused = await post(`/v1/checkouts/${pending.id}/confirm`, {}, key(value));
      expect([refused.statusCode, refused.json().code], form).toEqual([400, "invalid_idempotency_key"]);
      expect(await snapshotOf(api), form).toEqual(before);
    }
    expect((await api.request("GET", `/v1/checkouts/${pending.id}`)).json().status).toBe("requires_action");
    const confirmed = await post(`/v1/checkouts/${pending.id}/confirm`, {}, key("ok-confirm"));
    expect(confirmed.json()).toMatchObject({ status: "succeeded" });
  });

  it("a valid key of up to 255 printable characters, spaces inside, is taken", async () => {
    for (const value of ["k".repeat(255), "order 42 / seat+1 ~ (retry)", "a"]) {
      const response = await post(
        "/v1/accounts",
        { external_id: `ok-${value.length}-${value.charCodeAt(0)}`, name: "Key forms" },
        key(value),
      );
      expect(response.statusCode, value).toBe(201);
    }
  });
});

describe("one key sent with two bodies at the same moment", () => {
  it("POST /v1/checkout of two accounts' quotes: one checkout charged and applied, the other refused untouched", async () => {
    for (let round = 0; round < 4; round++) {
      const [a, b] = [await customer(api, "starter", ANCHOR), await customer(api, "starter", ANCHOR)];
      const [qa, qb] = [
        await quoteOf(api, a.account, { seats: 6 }),
        await quoteOf(api, b.account, { seats: 7 }),
      ];
      const k = key(`race-checkout-${round}`);
      const answers = await Promise.all([
        post("/v1/checkout", { quote: qa.id, member: a.admin }, k),
        post("/v1/checkout", { quote: qb.id, member: b.admin }, k),
      ]);
      const statuses = answers.map((r) => r.statusCode).sort();
      expect(statuses, answers.map((r) => r.body).join("\n")).toEqual([200, 422]);
      const [won, lost] = answers[0]?.statusCode === 200 ? [a, b] : [b, a];
      expect(answers.find((r) => r.statusCode === 422)?.json()).toMatchObject({
        code: "idempotency_key_reused",
        param: "Idempotency-Key",
      });
      expect(await chargesFor(api, won.account)).toHaveLength(1);
      expect(await chargesFor(api, lost.account)).toEqual([]);
      expect(await seatsOf(lost.subscription)).toBe(5);
      expect(await seatsOf(won.subscription)).toBe(won === a ? 6 : 7);
      expect(await invoiceCount(lost.account)).toBe(0);
      // every later answer for the key is the winner's
      const again = await Promise.all([
        post("/v1/checkout", { quote: qa.id, member: a.admin }, k),
        post("/v1/checkout", { quote: qb.id, member: b.admin }, k),
      ]);
      const winnerBody = answers.find((r) => r.statusCode === 200)?.body;
      expect(again.map((r) => r.statusCode).sort()).toEqual([200, 422]);
      expect(again.find((r) => r.statusCode === 200)?.body).toBe(winnerBody);
    }
  });

  it("POST /v1/accounts/{id}/members with authorize: one seat bought and one member invited", async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = [await fullAccount("ann@full.test"), await fullAccount("bob@full.test")];
      const k = key(`race-invite-${round}`);
      const answers = await Promise.all([
        post(
          `/v1/accounts/${a.account}/members`,
          { email: "ann@full.test", authorize: { quote: a.quote, member: a.admin } },
          k,
        ),
        post(
          `/v1/accounts/${b.account}/members`,
          { email: "bob@full.test", authorize: { quote: b.quote, member: b.admin } },
          k,
        ),
      ]);
      expect(answers.map((r) => r.statusCode).sort(), answers.map((r) => r.body).join("\n")).toEqual([
        201, 422,
      ]);
      const [won, lost, email] = answers[0]?.statusCode === 201 ? [a, b, "ann"] : [b, a, "bob"];
      expect(await chargesFor(api, won.account)).toHaveLength(1);
      expect(await chargesFor(api, lost.account)).toEqual([]);
      expect(await seatsOf(won.subscription)).toBe(6);
      expect(await seatsOf(lost.subscription)).toBe(5);
      expect((await membersOf(won.account)).map((m) => m.email)).toContain(`${email}@full.test`);
      expect(await membersOf(lost.account)).toHaveLength(5);
    }
  });

  it("one body sent five times at once: one checkout; the others wait their turn or replay it", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 8 });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => post("/v1/checkout", { quote: q.id, member: c.admin }, key("same-5"))),
    );
    const done = answers.filter((r) => r.statusCode === 200);
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(new Set(done.map((r) => r.body)).size).toBe(1);
    for (const busy of answers.filter((r) => r.statusCode !== 200)) {
      expect([busy.statusCode, busy.json().code]).toEqual([409, "idempotency_key_in_use"]);
      expect(busy.headers["retry-after"]).toBe("1");
    }
    expect(await chargesFor(api, c.account)).toHaveLength(1);
    const replay = await post("/v1/checkout", { quote: q.id, member: c.admin }, key("same-5"));
    expect(replay.body).toBe(done[0]?.body);
  });
});

describe("replays", () => {
  it("answer byte-identical bodies, the first answer included", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 9 });
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post("/v1/checkout", { member: c.admin, quote: q.id }, key("bytes-checkout"));
      expect(r.statusCode).toBe(200);
      expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(r.headers["idempotent-replayed"]).toBe(i === 0 ? undefined : "true");
      bodies.push(r.body);
    }
    expect(new Set(bodies).size).toBe(1);
    // on a route answered in one transaction too (and its response schema kept)
    const account = { external_id: "bytes-account", name: "Bytes", properties: { b: 1, a: 2 } };
    const first = await post("/v1/accounts", account, key("bytes-account"));
    const replay = await post("/v1/accounts", account, key("bytes-account"));
    expect(first.statusCode).toBe(201);
    expect(replay.body).toBe(first.body);
    expect(first.json()).toMatchObject({ object: "account", properties: { a: 2, b: 1 } });
  });
});

describe("a request that ended without an answer, retried with its key", () => {
  it("checkout: a retry while it runs is told to wait; once its claim lapses a retry finishes the same checkout", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 10 });
    const body = { quote: q.id, member: c.admin };
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // the charge goes through, then the process hangs (or died) before recording it
    api.gateway.afterCharge = () => {
      api.gateway.afterCharge = null;
      return held;
    };
    const stuck = post("/v1/checkout", body, key("stuck-1"));
    while ((await chargesFor(api, c.account)).length === 0) await new Promise((r) => setTimeout(r, 5));
    const busy = await post("/v1/checkout", body, key("stuck-1"));
    expect([busy.statusCode, busy.json().code]).toEqual([409, "idempotency_key_in_use"]);
    // another body is still refused, without waiting
    const other = await post("/v1/checkout", { quote: q.id, user_id: c.adminUser }, key("stuck-1"));
    expect(other.json().code).toBe("idempotency_key_reused");
    api.clock.advance(61_000);
    try {
      const resumed = await post("/v1/checkout", body, key("stuck-1"));
      expect(resumed.statusCode, resumed.body).toBe(200);
      expect(resumed.json()).toMatchObject({ status: "succeeded" });
      const replay = await post("/v1/checkout", body, key("stuck-1"));
      expect(replay.body).toBe(resumed.body);
      // the stuck request wakes up and answers what was recorded
      release();
      const late = await stuck;
      expect(late.body).toBe(resumed.body);
      expect(await recoverCheckouts(api.billing)).toMatchObject({ examined: 0 });
    } finally {
      release();
      api.clock.set(NOW);
    }
    expect(await chargesFor(api, c.account)).toHaveLength(1);
    expect(await seatsOf(c.subscription)).toBe(10);
    expect(await invoiceCount(c.account)).toBe(1);
  });

  it("checkout: a 500 after the charge; the retry with the key resumes at once and charges nothing more", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 11 });
    api.gateway.afterCharge = () => {
      api.gateway.afterCharge = null;
      throw new ProcessCrash();
    };
    const body = { quote: q.id, member: c.admin };
    expect((await post("/v1/checkout", body, key("crash-1"))).statusCode).toBe(500);
    const retry = await post("/v1/checkout", body, key("crash-1"));
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json().status).toBe("succeeded");
    expect((await post("/v1/checkout", body, key("crash-1"))).body).toBe(retry.body);
    expect(await chargesFor(api, c.account)).toHaveLength(1);
    expect(await seatsOf(c.subscription)).toBe(11);
  });

  it("an invite buying its seat: a 500 after the charge; the retry invites once, on the one seat bought", async () => {
    const c = await fullAccount("eve@full.test");
    api.gateway.afterCharge = () => {
      api.gateway.afterCharge = null;
      throw new ProcessCrash();
    };
    const invite = { email: "eve@full.test", authorize: { quote: c.quote, member: c.admin } };
    expect((await post(`/v1/accounts/${c.account}/members`, invite, key("crash-invite"))).statusCode).toBe(
      500,
    );
    const retry = await post(`/v1/accounts/${c.account}/members`, invite, key("crash-invite"));
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.json()).toMatchObject({ email: "eve@full.test", status: "invited" });
    expect((await post(`/v1/accounts/${c.account}/members`, invite, key("crash-invite"))).body).toBe(
      retry.body,
    );
    expect(await chargesFor(api, c.account)).toHaveLength(1);
    expect(await seatsOf(c.subscription)).toBe(6);
  });

  it("a 202 (awaiting 3-D Secure) is not recorded: the retry answers where the checkout stands", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_requires_action" });
    const q = await quoteOf(api, c.account, { seats: 6 });
    const body = { quote: q.id, member: c.admin };
    const waiting = await post("/v1/checkout", body, key("3ds-1"));
    expect([waiting.statusCode, waiting.json().status]).toEqual([202, "requires_action"]);
    const again = await post("/v1/checkout", body, key("3ds-1"));
    expect(again.statusCode).toBe(202);
    expect(again.body).toBe(waiting.body);
    expect(again.headers["idempotent-replayed"]).toBeUndefined();
    // still bound to its request
    expect((await post("/v1/checkout", { ...body, payment_method: "pm_x" }, key("3ds-1"))).statusCode).toBe(
      422,
    );
    await api.sandbox.completeAction(waiting.json().payment);
    expect((await post(`/v1/checkouts/${waiting.json().id}/confirm`, {})).json().status).toBe("succeeded");
    const settled = await post("/v1/checkout", body, key("3ds-1"));
    expect([settled.statusCode, settled.json().status]).toEqual([200, "succeeded"]);
    expect((await post("/v1/checkout", body, key("3ds-1"))).body).toBe(settled.body);
    expect(await chargesFor(api, c.account)).toHaveLength(1);
  });

  it("an invite whose seat awaits 3-D Secure keeps its key: the retry after it invites, once", async () => {
    const c = await fullAccount("sam@full.test");
    await post(`/v1/accounts/${c.account}/payment_methods`, {
      token: "sandbox_requires_action",
      default: true,
    });
    const invite = { email: "sam@full.test", authorize: { quote: c.quote, member: c.admin } };
    const url = `/v1/accounts/${c.account}/members`;
    const waiting = await post(url, invite, key("3ds-invite"));
    expect([waiting.statusCode, waiting.json().code]).toEqual([402, "payment_requires_action"]);
    expect((await post(url, { ...invite, role: "admin" }, key("3ds-invite"))).json().code).toBe(
      "idempotency_key_reused",
    );
    // nothing paid, nothing invoiced yet: one payment waits for the customer
    expect((await api.request("GET", `/v1/invoices?account=${c.account}`)).json().data).toEqual([]);
    const { rows } = await api.database.executeSql(
      "select id, gateway_payment_id from checkouts where account_id = $1",
      [c.account],
    );
    const [held] = rows as { id: string; gateway_payment_id: string }[];
    await api.sandbox.completeAction(held?.gateway_payment_id as string);
    expect((await post(`/v1/checkouts/${held?.id}/confirm`, {})).json().status).toBe("succeeded");
    const invited = await post(url, invite, key("3ds-invite"));
    expect([invited.statusCode, invited.json().email]).toEqual([201, "sam@full.test"]);
    expect((await post(url, invite, key("3ds-invite"))).body).toBe(invited.body);
    expect(await chargesFor(api, c.account)).toHaveLength(1);
  });

  it("a declined checkout is its key's answer: a retry replays the decline, a new key pays", async () => {
    const c = await customer(api, "starter", { ...ANCHOR, token: "sandbox_insufficient_funds" });
    const q = await quoteOf(api, c.account, { seats: 6 });
    const body = { quote: q.id, member: c.admin };
    const declined = await post("/v1/checkout", body, key("declined-1"));
    expect([declined.statusCode, declined.json().code]).toEqual([402, "payment_declined"]);
    expect(declined.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    const asked = api.sandbox.requests.length;
    await post(`/v1/accounts/${c.account}/payment_methods`, { token: "sandbox_visa", default: true });
    // Stripe's rule: the request started, so the key keeps its outcome; the gateway is not asked again
    const replay = await post("/v1/checkout", body, key("declined-1"));
    expect(replay.statusCode).toBe(402);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(replay.body).toBe(declined.body);
    expect(api.sandbox.requests.length).toBe(asked);
    const paid = await post("/v1/checkout", body, key("declined-2"));
    expect(paid.json()).toMatchObject({ status: "succeeded" });
    expect(await chargesFor(api, c.account)).toHaveLength(1);
  });

  it("a refusal of the request's form is not recorded: the key stays free for a corrected one", async () => {
    const c = await customer(api, "starter", ANCHOR);
    const q = await quoteOf(api, c.account, { seats: 6 });
    // no actor: the request's form, checked before anything is charged
    const bare = await post("/v1/checkout", { quote: q.id }, key("form-1"));
    expect(bare.statusCode).toBe(400);
    const paid = await post("/v1/checkout", { quote: q.id, member: c.admin }, key("form-1"));
    expect(paid.json()).toMatchObject({ status: "succeeded" });
  });
});
