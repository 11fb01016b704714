import { eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { segmentUserAccounts, usageEvents } from "../../src/db/schema/index.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

const api = useMeteringApi();
const basic = () => ({ authorization: `Basic ${Buffer.from(`${api.secret}:`).toString("base64")}` });

const DEEP = `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`;

/** JSON text with raw JSON (a deep value, 1e400) spliced in where the markers stand. */
function jsonWith(value: unknown, raw: Record<string, string>): string {
  let text = JSON.stringify(value);
  for (const [marker, json] of Object.entries(raw)) text = text.replace(`"${marker}"`, () => json);
  return text;
}

function post(url: string, payload: string, headers: Record<string, string> = {}) {
  return api.app.inject({
    method: "POST",
    url,
    headers: { authorization: `Bearer ${api.secret}`, "content-type": "application/json", ...headers },
    payload,
  });
}

type Result = { index: number; id: string | null; status: string; code?: string; message?: string };

describe("a batch with hostile events among good ones", () => {
  it("POST /v1/events counts the good ones and rejects each bad one alone, with a code, also under an Idempotency-Key", async () => {
    for (const key of [undefined, "hostile-batch-1"]) {
      const { account } = await api.accountOn("starter");
      const good = [1, 2, 3].map(() => usageEvent(account, "api.call"));
      const bad: [unknown, string, string | null][] = [
        [{ ...usageEvent(account, "api.call"), id: "id\u0000" }, "unsupported_character", null],
        [
          { ...usageEvent(account, "api.call"), account: `${account}\u0000` },
          "unsupported_character",
          "keep",
        ],
        [usageEvent(account, "api.call\ud800"), "unsupported_character", "keep"],
        [usageEvent(account, "api.call", { properties: { "k\u0000": 1 } }), "unsupported_character", "keep"],
        [usageEvent(account, "api.call", { properties: { k: ["\udc00"] } }), "unsupported_character", "keep"],
        [usageEvent(account, "api.call", { properties: { k: "DEEP" } }), "nesting_too_deep", "keep"],
        [usageEvent(account, "api.call", { properties: { k: "HUGE" } }), "number_out_of_range", "keep"],
        [usageEvent(account, "api.call", { timestamp: "0000-01-01T00:00:00Z" }), "invalid_event", "keep"],
        // a sum meter's bad value is quoted cut short: never through a surrogate pair
        [
          usageEvent(account, "file.stored", { properties: { bytes: "😀".repeat(30) } }),
          "invalid_property_value",
          "keep",
        ],
      ];
      const events = [
        good[0],
        ...bad.slice(0, 5).map(([e]) => e),
        good[1],
        ...bad.slice(5).map(([e]) => e),
        good[2],
      ];
      const payload = jsonWith({ events }, { DEEP, HUGE: "1e400" });
      const headers: Record<string, string> = key ? { "idempotency-key": key } : {};
      const response = await post("/v1/events", payload, headers);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ accepted: 3, duplicates: 0, rejected: bad.length });
      const results = body.results as Result[];
      expect(results.filter((r) => r.status === "accepted").map((r) => r.id)).toEqual(good.map((g) => g.id));
      for (const [event, code, id] of bad) {
        const result = results[events.indexOf(event)];
        const expectedId = id === "keep" ? (event as { id: string }).id : null;
        expect(result).toMatchObject({ status: "rejected", code, id: expectedId });
        expect(result?.message?.isWellFormed()).toBe(true);
      }
      expect(results[events.indexOf(bad[5]?.[0])]?.message).toMatch(
        /^properties\.k(\.a)+: objects and arrays nest deeper than 32 levels$/,
      );

      const stored = await api.database.db
        .select()
        .from(usageEvents)
        .where(eq(usageEvents.accountId, account));
      expect(stored.map((e) => e.id).sort()).toEqual(good.map((g) => g.id).sort());
      const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
      expect(ent.features.api_calls.used).toBe(3);
      if (key) {
        const replay = await post("/v1/events", payload, headers);
        expect(replay.headers["idempotent-replayed"]).toBe("true");
        expect(replay.json()).toEqual(body);
      }
    }
  });

  it("POST /v1/segment/batch handles the good messages and rejects each bad one alone, with a code", async () => {
    for (const key of [undefined, "hostile-segment-1"]) {
      const { account, external } = await api.accountOn("starter");
      const user = (name: string) => `${name}-${external}`;
      const track = (messageId: string, extra: Record<string, unknown> = {}) => ({
        type: "track",
        messageId: `${messageId}-${external}`,
        userId: user("u"),
        event: "api.call",
        context: { groupId: account },
        ...extra,
      });
      const batch = [
        track("good-1"),
        track("bad-user", { userId: "u\u0000" }),
        { type: "group", messageId: `grp-${external}`, userId: user("member"), groupId: external },
        { type: "group", messageId: `bad-grp-${external}`, userId: user("other"), groupId: "\ud800" },
        {
          type: "identify",
          messageId: `bad-idt-${external}`,
          userId: user("deep"),
          traits: { nested: "DEEP" },
        },
        track("bad-context", { context: { groupId: account, "ip\u0000": "1.2.3.4" } }),
        track("bad-number", { properties: { n: "HUGE" } }),
        track("bad-id\u0000"),
        track("good-2", { userId: user("member"), context: {} }),
      ];
      const headers = { ...basic(), ...(key ? { "idempotency-key": key } : {}) };
      const response = await post("/v1/segment/batch", jsonWith({ batch }, { DEEP, HUGE: "1e400" }), headers);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ accepted: 3, rejected: 6 });
      const codes = (body.results as Result[]).map((r) => [r.status, r.code ?? null, r.id]);
      expect(codes).toEqual([
        ["accepted", null, `good-1-${external}`],
        ["rejected", "unsupported_character", `bad-user-${external}`],
        ["accepted", null, `grp-${external}`],
        ["rejected", "unsupported_character", `bad-grp-${external}`],
        ["rejected", "nesting_too_deep", `bad-idt-${external}`],
        ["rejected", "unsupported_character", `bad-context-${external}`],
        ["rejected", "number_out_of_range", `bad-number-${external}`],
        ["rejected", "unsupported_character", null],
        ["accepted", null, `good-2-${external}`],
      ]);
      expect(body.results[3].message).toMatch(/^groupId: the string holds a lone UTF-16 surrogate/);
      expect(body.results[5].message).toMatch(/^context\.ip\\u0000: the key holds a NUL character/);

      const stored = await api.database.db
        .select()
        .from(usageEvents)
        .where(eq(usageEvents.accountId, account));
      expect(stored.map((e) => e.id).sort()).toEqual([`good-1-${external}`, `good-2-${external}`]);
      const links = await api.database.db
        .select()
        .from(segmentUserAccounts)
        .where(inArray(segmentUserAccounts.userId, [user("member"), user("other"), user("deep")]));
      expect(links.map((l) => [l.userId, l.accountId])).toEqual([[user("member"), account]]);
      if (key) {
        const replay = await post("/v1/segment/batch", jsonWith({ batch }, { DEEP, HUGE: "1e400" }), headers);
        expect(replay.headers["idempotent-replayed"]).toBe("true");
        expect(replay.json()).toEqual(body);
      }
    }
  });

  it("a single Segment call or event with such a value is a 400 naming it, and stores nothing", async () => {
    const { account } = await api.accountOn("starter");
    const track = await post(
      "/v1/segment/track",
      JSON.stringify({
        messageId: "single-1",
        anonymousId: "a\u0000",
        event: "api.call",
        context: { groupId: account },
      }),
      basic(),
    );
    expect(track.statusCode).toBe(400);
    expect(track.json()).toMatchObject({ code: "unsupported_character", param: "anonymousId" });
    const event = await post(
      "/v1/events",
      jsonWith(usageEvent(account, "api.call", { properties: { k: "DEEP" } }), { DEEP }),
    );
    expect(event.statusCode).toBe(400);
    expect(event.json()).toMatchObject({ code: "nesting_too_deep" });
    expect(event.json().param).toMatch(/^properties\.k(\.a)+$/);
    const stored = await api.database.db.select().from(usageEvents).where(eq(usageEvents.accountId, account));
    expect(stored).toEqual([]);
  });
});
