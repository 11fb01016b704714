import { describe, expect, it } from "vitest";
import { accountOnPlan, tableSnapshot, useTestApi } from "../support/harness.ts";

const api = useTestApi();

describe("Idempotency-Key", () => {
  it("replays the first response for a retry, creating nothing new", async () => {
    const body = { external_id: "idem_1", name: "Once" };
    const first = await api.request("POST", "/v1/accounts", body, { "idempotency-key": "k-1" });
    const retry = await api.request("POST", "/v1/accounts", body, { "idempotency-key": "k-1" });
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    const list = (await api.request("GET", "/v1/accounts?external_id=idem_1")).json();
    expect(list.data).toHaveLength(1);
    const events = await api.database.db.query.domainEvents.findMany({
      where: (e, { eq }) => eq(e.accountId, first.json().id),
    });
    expect(events).toHaveLength(1);
  });

  it("treats the same body with keys in another order as the same request", async () => {
    const first = await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_2", name: "Order" },
      { "idempotency-key": "k-2" },
    );
    const retry = await api.request(
      "POST",
      "/v1/accounts",
      { name: "Order", external_id: "idem_2" },
      { "idempotency-key": "k-2" },
    );
    expect(retry.json().id).toBe(first.json().id);
  });

  it("rejects the same key with a different body: 422 idempotency_key_reused", async () => {
    await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_3", name: "A" },
      { "idempotency-key": "k-3" },
    );
    const reused = await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_3b", name: "B" },
      { "idempotency-key": "k-3" },
    );
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: "idempotency_key_reused", param: "Idempotency-Key" });
    expect((await api.request("GET", "/v1/accounts?external_id=idem_3b")).json().data).toHaveLength(0);
  });

  it("rejects the same key on another route", async () => {
    const account = (
      await api.request(
        "POST",
        "/v1/accounts",
        { external_id: "idem_4", name: "R" },
        { "idempotency-key": "k-4" },
      )
    ).json();
    const other = await api.request(
      "POST",
      "/v1/subscriptions",
      { account: account.id, plan: "free" },
      { "idempotency-key": "k-4" },
    );
    expect(other.json().code).toBe("idempotency_key_reused");
  });

  it("records a refusal met once the request started, and replays it byte for byte", async () => {
    const { account, subscription } = await accountOnPlan(api, "starter");
    const body = { account, plan: "free" };
    const exists = await api.request("POST", "/v1/subscriptions", body, { "idempotency-key": "k-5" });
    expect([exists.statusCode, exists.json().code]).toEqual([409, "subscription_exists"]);
    expect(exists.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    // the obstacle goes away; the key still answers what its request came to, and creates nothing
    const ended = await api.request("POST", `/v1/subscriptions/${subscription}/cancel`, {
      at_period_end: false,
    });
    expect(ended.statusCode).toBe(200);
    const replay = await api.request("POST", "/v1/subscriptions", body, { "idempotency-key": "k-5" });
    expect(replay.statusCode).toBe(409);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(replay.body).toBe(exists.body);
    const listed = (await api.request("GET", `/v1/subscriptions?account=${account}`)).json().data;
    expect(listed).toHaveLength(1);
    // a new key is a new request
    const created = await api.request("POST", "/v1/subscriptions", body, { "idempotency-key": "k-5b" });
    expect(created.statusCode).toBe(201);
    // a 404 alike
    const missing = { account: "acct_none", plan: "free" };
    const first = await api.request("POST", "/v1/subscriptions", missing, { "idempotency-key": "k-6" });
    const again = await api.request("POST", "/v1/subscriptions", missing, { "idempotency-key": "k-6" });
    expect([first.statusCode, again.statusCode, again.headers["idempotent-replayed"]]).toEqual([
      404,
      404,
      "true",
    ]);
    expect(again.body).toBe(first.body);
  });

  it("records nothing for a refusal of the request's form: the key stays free for a corrected one", async () => {
    const account = (await api.request("POST", "/v1/accounts", { external_id: "idem_5", name: "F" })).json();
    const key = { "idempotency-key": "k-7" };
    // refused by the route's schema, before it runs
    const unknownField = await api.request(
      "POST",
      "/v1/subscriptions",
      { account: account.id, plan: "free", x: 1 },
      key,
    );
    expect([unknownField.statusCode, unknownField.json().code]).toEqual([400, "invalid_request"]);
    // refused by the service's own check of a field
    const twice = await api.request(
      "POST",
      "/v1/subscriptions",
      { account: account.id, plan: "starter", add_ons: [{ key: "storage_pack" }, { key: "storage_pack" }] },
      key,
    );
    expect([twice.statusCode, twice.json().code]).toEqual([400, "duplicate_add_on"]);
    const corrected = await api.request(
      "POST",
      "/v1/subscriptions",
      { account: account.id, plan: "free" },
      key,
    );
    expect(corrected.statusCode).toBe(201);
    expect(corrected.headers["idempotent-replayed"]).toBeUndefined();
  });

  it("a recorded refusal changes nothing but its key", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const before = await tableSnapshot(api.database);
    const refused = await api.request(
      "POST",
      "/v1/subscriptions",
      { account, plan: "free" },
      { "idempotency-key": "k-8" },
    );
    expect(refused.statusCode).toBe(409);
    const after = await tableSnapshot(api.database);
    const changed = Object.keys(after).filter((table) => after[table] !== before[table]);
    expect(changed).toEqual(["public.idempotency_keys"]);
  });

  it("runs concurrent requests with one key exactly once", async () => {
    const body = { external_id: "idem_race", name: "Race" };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        api.request("POST", "/v1/accounts", body, { "idempotency-key": "k-race" }),
      ),
    );
    expect(new Set(responses.map((r) => r.statusCode))).toEqual(new Set([201]));
    expect(new Set(responses.map((r) => r.json().id)).size).toBe(1);
    expect((await api.request("GET", "/v1/accounts?external_id=idem_race")).json().data).toHaveLength(1);
  });

  it("keeps keys apart per API key", async () => {
    const { createSecretKey } = await import("../../src/services/accounts/api-keys.ts");
    const other = await createSecretKey(api.database.db, "other", api.clock());
    const mine = await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_7", name: "Mine" },
      { "idempotency-key": "shared" },
    );
    const theirs = await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_8", name: "Theirs" },
      {
        "idempotency-key": "shared",
        authorization: `Bearer ${other.secret}`,
      },
    );
    expect(theirs.statusCode).toBe(201);
    expect(theirs.json().id).not.toBe(mine.json().id);
  });

  it("rejects an over-long key", async () => {
    const response = await api.request(
      "POST",
      "/v1/accounts",
      { external_id: "idem_9", name: "L" },
      { "idempotency-key": "k".repeat(300) },
    );
    expect(response.json().code).toBe("invalid_idempotency_key");
  });
});
