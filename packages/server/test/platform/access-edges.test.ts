import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import { KEY_CACHE_TTL_MS } from "../../src/http/plugins/auth.ts";
import { createSecretKey, revokeKey } from "../../src/services/accounts/api-keys.ts";
import { type BillingApi, chargesFor, customer, quoteOf, useBillingApi } from "../support/billing-harness.ts";

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
    expect(await chargesFor(api, c.account)).toEqual([]);
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
    expect(await chargesFor(api, c.account)).toEqual([]);
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

describe("the printable invoice", () => {
  it("is served with a Content-Security-Policy that runs nothing but its own style, and nosniff", async () => {
    const c = await customer(api, "starter", ANCHOR);
    await api.request("PATCH", `/v1/accounts/${c.account}`, { name: `<script>alert(1)</script> Inc` });
    const q = await quoteOf(api, c.account, { seats: 6 });
    const done = (await api.request("POST", "/v1/checkout", { quote: q.id, member: c.admin })).json();
    const html = await api.request("GET", `/v1/invoices/${done.invoice}/html`);
    expect(html.statusCode).toBe(200);
    expect(html.headers["x-content-type-options"]).toBe("nosniff");
    const csp = String(html.headers["content-security-policy"]);
    expect(csp).toMatch(/^default-src 'none';/);
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toMatch(/script-src/);
    // the one style block is allowed by its hash, so the page still renders styled
    const style = html.body.match(/<style>([\s\S]*?)<\/style>/)?.[1] ?? "";
    expect(style).toContain("font-variant-numeric");
    expect(csp).toContain(`style-src 'sha256-${createHash("sha256").update(style).digest("base64")}'`);
    expect(html.body).not.toContain("<script>");
  });
});

describe("the entitlements stream of a revoked key", () => {
  let base: string;
  beforeAll(async () => {
    base = await api.app.listen({ port: 0, host: "127.0.0.1" });
  });

  /** Opens the SSE stream and reads it to `ready`; `ended` resolves (with the time) when the server ends it. */
  async function openStream(secret: string) {
    const res = await fetch(`${base}/v1/entitlements/stream`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("event: ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended before it was ready");
      text += new TextDecoder().decode(value);
    }
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return Date.now();
    })();
    return { ended, cancel: () => reader.cancel() };
  }
  const stillOpen = (ended: Promise<number>, ms: number) =>
    Promise.race([ended.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);
  const plainRequest = (secret: string) =>
    fetch(`${base}/v1/catalog`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);

  it("revoked in this process: the stream ends at once; another key's stream stays open", async () => {
    const key = await createSecretKey(api.database.db, "sdk", api.clock());
    const other = await createSecretKey(api.database.db, "sdk-other", api.clock());
    const revoked = await openStream(key.secret);
    const kept = await openStream(other.secret);
    expect(await plainRequest(key.secret)).toBe(200);
    const at = Date.now();
    await revokeKey(api.database.db, key.id, api.clock());
    expect((await revoked.ended) - at).toBeLessThan(1_000);
    expect(await plainRequest(key.secret)).toBe(401);
    // past a sweep of the open streams
    expect(await stillOpen(kept.ended, KEY_CACHE_TTL_MS * 0.6)).toBe(true);
    await kept.cancel();
  });

  it("revoked elsewhere (another node, the CLI): ended within the key cache's lifetime, as plain requests are refused", async () => {
    const key = await createSecretKey(api.database.db, "sdk-elsewhere", api.clock());
    const stream = await openStream(key.secret);
    expect(await plainRequest(key.secret)).toBe(200);
    const at = Date.now();
    // written straight to the database: this process is not told
    await api.database.executeSql("update api_keys set revoked_at = now() where id = $1", [key.id]);
    const ended = await stream.ended;
    expect(ended - at).toBeLessThanOrEqual(KEY_CACHE_TTL_MS);
    await new Promise((r) => setTimeout(r, Math.max(0, at + KEY_CACHE_TTL_MS - Date.now())));
    expect(await plainRequest(key.secret)).toBe(401);
    // and it cannot come back
    const again = await fetch(`${base}/v1/entitlements/stream`, {
      headers: { authorization: `Bearer ${key.secret}` },
    });
    expect(again.status).toBe(401);
  });
});
