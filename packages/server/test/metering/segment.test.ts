import { describe, expect, it } from "vitest";
import { useMeteringApi } from "../support/metering-harness.ts";

const api = useMeteringApi();
const basic = () => ({ authorization: `Basic ${Buffer.from(`${api.secret}:`).toString("base64")}` });
const segment = (call: string, body: unknown) => api.request("POST", `/v1/segment/${call}`, body, basic());

// Payloads shaped as in Segment's public spec (connections/spec/track, group, identify and the HTTP
// API's batch), with the fields a real analytics library sends.
describe("Segment-compatible endpoints", () => {
  it("track with context.groupId becomes a usage event; the messageId makes it idempotent", async () => {
    const { account, external } = await api.accountOn("starter");
    const track = {
      type: "track",
      messageId: "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
      userId: "AiUGstSDIg",
      anonymousId: "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
      event: "file.stored",
      properties: { bytes: "39.95", title: "Intro to Analytics" },
      context: { groupId: external, ip: "108.0.78.21", library: { name: "analytics.js", version: "2.11.1" } },
      integrations: { All: true },
      timestamp: "2026-01-16T12:00:00.000Z",
      originalTimestamp: "2026-01-16T11:11:01.152Z",
      sentAt: "2026-01-16T11:11:01.169Z",
    };
    const first = await segment("track", track);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ accepted: 1 });
    expect((await segment("track", track)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.storage.used).toBe(39.95);
  });

  it("group links a user to an account; later tracks without a groupId count for it; batch answers per message", async () => {
    const { account, external } = await api.accountOn("starter");
    const group = await segment("group", {
      type: "group",
      messageId: "grp-1",
      userId: "user-42",
      groupId: external,
      traits: { name: "Initech", industry: "Technology", employees: 329, plan: "enterprise" },
      timestamp: "2026-01-16T11:00:00Z",
    });
    expect(group.json()).toMatchObject({ accepted: 1 });
    const batch = await segment("batch", {
      batch: [
        { type: "track", messageId: "b-1", userId: "user-42", event: "api.call", properties: {} },
        {
          type: "identify",
          messageId: "b-2",
          userId: "user-43",
          traits: { email: "a@b.c", company: { id: external } },
        },
        { type: "track", messageId: "b-3", userId: "user-43", event: "api.call" },
        { type: "page", messageId: "b-4", userId: "user-42", name: "Home" },
        { type: "track", messageId: "b-5", userId: "stranger", event: "api.call" },
        { type: "track", userId: "user-42", event: "api.call" },
      ],
      context: { library: { name: "analytics-node", version: "6.0.0" } },
    });
    expect(batch.statusCode).toBe(200);
    const results = batch.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status);
    expect(results).toEqual([
      "accepted",
      "accepted",
      "accepted",
      "invalid_event",
      "unknown_account",
      "missing_id",
    ]);
    const ent = (await api.request("GET", `/v1/accounts/${account}/entitlements`)).json();
    expect(ent.features.api_calls.used).toBe(2);
  });

  it("authenticates with HTTP Basic (the secret key as the user name) and rejects a wrong key", async () => {
    const wrong = await api.app.inject({
      method: "POST",
      url: "/v1/segment/track",
      headers: { authorization: `Basic ${Buffer.from("sk_wrong:").toString("base64")}` },
      payload: { event: "x", messageId: "m", userId: "u" },
    });
    expect(wrong.statusCode).toBe(401);
    const bad = await segment("track", { messageId: "m" });
    expect(bad.statusCode).toBe(400);
  });
});
