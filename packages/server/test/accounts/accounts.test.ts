import { describe, expect, it } from "vitest";
import { createSecretKey, revokeKey } from "../../src/services/accounts/api-keys.ts";
import { accountOnPlan, useTestApi } from "../support/harness.ts";

const api = useTestApi();

describe("accounts", () => {
  it("creates, reads and updates an account, writing domain events", async () => {
    const created = await api.request("POST", "/v1/accounts", {
      external_id: "org_42",
      name: "Acme",
      properties: { industry: "fintech" },
    });
    expect(created.statusCode).toBe(201);
    const account = created.json();
    expect(account).toMatchObject({
      object: "account",
      external_id: "org_42",
      name: "Acme",
      properties: { industry: "fintech" },
      subscription: null,
      segment: "smb",
    });
    expect(account.id).toMatch(/^acct_[0-9A-Z]{26}$/);

    const patched = await api.request("PATCH", `/v1/accounts/${account.id}`, {
      name: "Acme Corp",
      properties: { industry: null, employees: 120 },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: "Acme Corp", properties: { employees: 120 } });
    expect(patched.json().properties).not.toHaveProperty("industry");

    const read = await api.request("GET", `/v1/accounts/${account.id}`);
    expect(read.json().name).toBe("Acme Corp");

    const events = await api.database.db.query.domainEvents.findMany({
      where: (e, { eq }) => eq(e.accountId, account.id),
      orderBy: (e, { asc }) => asc(e.seq),
    });
    expect(events.map((e) => e.type)).toEqual(["account.created", "account.updated"]);
  });

  it("rejects a second account with the same external id", async () => {
    await api.request("POST", "/v1/accounts", { external_id: "dup", name: "One" });
    const second = await api.request("POST", "/v1/accounts", { external_id: "dup", name: "Two" });
    expect(second.statusCode).toBe(409);
    expect(second.headers["content-type"]).toContain("application/problem+json");
    expect(second.json()).toMatchObject({ code: "account_exists", param: "external_id" });
  });

  it("answers 404 resource_not_found for an unknown account", async () => {
    const response = await api.request("GET", "/v1/accounts/acct_nope");
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe("resource_not_found");
  });

  it("derives the segment from the annual contract value", async () => {
    // Business monthly: $599 + 0 extra seats = $7,188/yr → SMB; 125 seats → 100 extra at the volume tier
    // of $12 → $599 + $1,200 = $1,799/month = $21,588/yr → mid-market.
    const small = await accountOnPlan(api, "business");
    const mid = await accountOnPlan(api, "business", { seats: 125 });
    const big = await accountOnPlan(api, "business", { seats: 700, interval: "year" });
    const segments = await Promise.all(
      [small, mid, big].map(async (a) => (await api.request("GET", `/v1/accounts/${a.account}`)).json()),
    );
    expect(segments.map((a) => a.segment)).toEqual(["smb", "mid_market", "enterprise"]);
    expect(segments[1].annual_contract_value).toEqual({ amount: 2_158_800, currency: "usd" });
  });

  it("takes the vendor's `segment` property over the ACV, and refuses one that names no segment", async () => {
    const { account } = await accountOnPlan(api, "business"); // $7,188 a year: SMB by its ACV
    const set = await api.request("PATCH", `/v1/accounts/${account}`, {
      properties: { segment: "enterprise" },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ segment: "enterprise", annual_contract_value: { amount: 718_800 } });
    for (const segment of ["Enterprise", "large", 3, true]) {
      const refused = await api.request("PATCH", `/v1/accounts/${account}`, { properties: { segment } });
      expect([refused.statusCode, refused.json().code, refused.json().param]).toEqual([
        400,
        "invalid_request",
        "properties.segment",
      ]);
      const created = await api.request("POST", "/v1/accounts", {
        external_id: `bad-segment-${String(segment)}`,
        name: "Bad",
        properties: { segment },
      });
      expect([created.statusCode, created.json().param]).toEqual([400, "properties.segment"]);
    }
    expect((await api.request("GET", `/v1/accounts/${account}`)).json().segment).toBe("enterprise");
    const cleared = await api.request("PATCH", `/v1/accounts/${account}`, { properties: { segment: null } });
    expect(cleared.json().segment).toBe("smb");
  });

  it("pages through accounts newest first with an opaque cursor, without repeats or gaps", async () => {
    for (let i = 0; i < 7; i++) {
      api.clock.advance(1000);
      await api.request("POST", "/v1/accounts", { external_id: `page_${i}`, name: `Page ${i}` });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/accounts?limit=3${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await api.request("GET", url)).json();
      expect(page.object).toBe("list");
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((a: { id: string }) => a.id));
      cursor = page.next_cursor;
      expect(page.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort().reverse()).toEqual(seen);
    const all = (await api.request("GET", "/v1/accounts?limit=100")).json();
    expect(seen).toEqual(all.data.map((a: { id: string }) => a.id));
  });

  it("finds an account by external id", async () => {
    const page = (await api.request("GET", "/v1/accounts?external_id=org_42")).json();
    expect(page.data).toHaveLength(1);
    expect(page.data[0].name).toBe("Acme Corp");
  });

  it("rejects a cursor it did not issue", async () => {
    const response = await api.request("GET", "/v1/accounts?cursor=bm9wZQ");
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("invalid_cursor");
  });
});

describe("authentication", () => {
  it("answers 401 without a key, with a malformed key and with an unknown key", async () => {
    const none = await api.app.inject({ method: "GET", url: "/v1/accounts" });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe("missing_api_key");
    const publishable = await api.request("GET", "/v1/accounts", undefined, {
      authorization: "Bearer pk_abc",
    });
    expect(publishable.json().code).toBe("invalid_api_key");
    const unknown = await api.request("GET", "/v1/accounts", undefined, {
      authorization: "Bearer sk_unknown",
    });
    expect(unknown.statusCode).toBe(401);
  });

  it("stops accepting a key the moment it is revoked", async () => {
    const key = await createSecretKey(api.database.db, "to revoke", api.clock());
    const auth = { authorization: `Bearer ${key.secret}` };
    expect((await api.request("GET", "/v1/accounts", undefined, auth)).statusCode).toBe(200);
    await revokeKey(api.database.db, key.id, api.clock());
    const after = await api.request("GET", "/v1/accounts", undefined, auth);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe("invalid_api_key");
  });

  it("stores keys hashed, never in plain text", async () => {
    const key = await createSecretKey(api.database.db, "hashed", api.clock());
    const rows = await api.database.db.query.apiKeys.findMany();
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(key.secret);
    expect(stored).toContain(key.secret.slice(0, 10));
  });

  it("serves health, readiness, metrics and OpenAPI 3.1 without a key", async () => {
    expect((await api.app.inject({ url: "/healthz" })).json()).toEqual({ status: "ok" });
    expect((await api.app.inject({ url: "/readyz" })).json()).toEqual({ status: "ready" });
    const metrics = await api.app.inject({ url: "/metrics" });
    expect(metrics.body).toContain("uptier_http_requests_total");
    const spec = (await api.app.inject({ url: "/openapi.json" })).json();
    expect(spec.openapi).toBe("3.1.0");
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        "/v1/accounts",
        "/v1/accounts/{id}/members",
        "/v1/subscriptions/{id}",
        "/v1/catalog",
      ]),
    );
    expect(spec.paths["/v1/accounts"].post.requestBody.content["application/json"].schema.required).toEqual(
      expect.arrayContaining(["external_id", "name"]),
    );
    // every $ref resolves to a published component
    const refs = [...JSON.stringify(spec).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(refs).toContain("Account");
    for (const ref of refs) expect(spec.components.schemas).toHaveProperty(ref as string);
    expect((await api.app.inject({ url: "/docs/" })).statusCode).toBe(200);
  });
});
