import { asc, eq, gt } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import {
  deliverDueWebhooks,
  startWebhookDelivery,
  type WebhookDeliveryOptions,
} from "../../src/services/webhooks/deliver.ts";
import { checkWebhookUrl } from "../../src/services/webhooks/endpoints.ts";
import { enqueueWebhookDeliveries, type WebhookEvent } from "../../src/services/webhooks/enqueue.ts";
import { tableSnapshot, useTestApi } from "../support/harness.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

/**
 * Webhooks end to end against a real HTTP server on 127.0.0.1: endpoints over the API, deliveries
 * queued from the domain-event log as a log subscriber would, and the worker's passes run by hand
 * on the test clock (so retries are due when the test says). One file past 400 lines on purpose:
 * the cases share one receiver, one cursor over the log and one clock, and read in order.
 */
const api = useTestApi();
let receiver: WebhookReceiver;
const SECOND = 1000;

beforeAll(async () => {
  receiver = await WebhookReceiver.start();
});
afterAll(() => receiver.close());
beforeEach(() => {
  receiver.received.length = 0;
  receiver.script = [];
  receiver.fallback = { status: 200, body: "ok" };
});

const worker = (options: Partial<WebhookDeliveryOptions> = {}): WebhookDeliveryOptions => ({
  db: api.database.db,
  clock: api.clock,
  random: () => 0.5, // no jitter: the waits are the schedule's
  timeoutMs: 2000,
  ...options,
});
const pass = (options: Partial<WebhookDeliveryOptions> = {}) => deliverDueWebhooks(worker(options));

let seen = 0;
/** Queues every domain event written since the last call, as the log's durable subscriber will. */
async function enqueueNewEvents(): Promise<number> {
  const rows = await api.database.db
    .select()
    .from(domainEvents)
    .where(gt(domainEvents.seq, seen))
    .orderBy(asc(domainEvents.seq));
  seen = rows.at(-1)?.seq ?? seen;
  const events: WebhookEvent[] = rows.map((r) => ({
    id: r.id,
    type: r.type,
    account: r.accountId,
    data: r.data,
    createdAt: r.createdAt,
  }));
  return api.database.db.transaction((tx) => enqueueWebhookDeliveries(tx, events));
}

/** A new endpoint on the receiver; events written before it are queued first, so it sees only later ones. */
async function endpoint(body: Record<string, unknown> = {}) {
  await enqueueNewEvents();
  const created = await api.request("POST", "/v1/webhook_endpoints", {
    url: receiver.url(),
    event_types: ["account.created"],
    ...body,
  });
  expect(created.statusCode).toBe(201);
  return created.json() as { id: string; secret: string; url: string };
}

let accounts = 0;
async function newAccount() {
  accounts++;
  const created = await api.request("POST", "/v1/accounts", {
    external_id: `hook-${accounts}`,
    name: "Hooked",
  });
  return created.json().id as string;
}

const deliveriesOf = async (endpointId: string, query = "") =>
  (await api.request("GET", `/v1/webhook_endpoints/${endpointId}/deliveries${query}`)).json();

/** Ends an endpoint's part in later tests (each test's events go to the endpoints still live). */
const remove = (id: string) => api.request("DELETE", `/v1/webhook_endpoints/${id}`);

describe("webhook endpoints", () => {
  it("shows the secret once, on create, and keeps it out of every later answer", async () => {
    const created = await endpoint({ description: "CRM sync" });
    expect(created).toMatchObject({
      object: "webhook_endpoint",
      url: receiver.url(),
      description: "CRM sync",
      event_types: ["account.created"],
      status: "enabled",
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const read = (await api.request("GET", `/v1/webhook_endpoints/${created.id}`)).json();
    expect(read).not.toHaveProperty("secret");
    const list = (await api.request("GET", "/v1/webhook_endpoints")).json();
    expect(list.data.map((e: { id: string }) => e.id)).toContain(created.id);
    expect(JSON.stringify(list)).not.toContain(created.secret);

    const patched = await api.request("PATCH", `/v1/webhook_endpoints/${created.id}`, {
      event_types: ["*"],
      description: "",
    });
    expect(patched.json()).toMatchObject({ event_types: ["*"], description: "" });
    const off = await api.request("PATCH", `/v1/webhook_endpoints/${created.id}`, { status: "disabled" });
    expect(off.json()).toMatchObject({ status: "disabled", disabled_reason: "manual" });
    expect(off.json().disabled_at).toBe(api.clock().toISOString());
    const on = await api.request("PATCH", `/v1/webhook_endpoints/${created.id}`, { status: "enabled" });
    expect(on.json()).toMatchObject({ status: "enabled", disabled_reason: null, disabled_at: null });
    expect((await remove(created.id)).json()).toEqual({
      id: created.id,
      object: "webhook_endpoint",
      deleted: true,
    });
    expect((await api.request("GET", `/v1/webhook_endpoints/${created.id}`)).statusCode).toBe(404);
  });

  it("refuses a plain-http URL to another host with 422 webhook_url_not_https, writing nothing", async () => {
    const before = await tableSnapshot(api.database);
    for (const url of ["http://example.com/hooks", "http://10.0.0.8:8080/in"]) {
      const refused = await api.request("POST", "/v1/webhook_endpoints", { url });
      expect([refused.statusCode, refused.json().code, refused.json().param]).toEqual([
        422,
        "webhook_url_not_https",
        "url",
      ]);
    }
    for (const [url, param] of [
      ["ftp://example.com/x", "url"],
      ["not a url", "url"],
    ]) {
      const refused = await api.request("POST", "/v1/webhook_endpoints", { url });
      expect([refused.statusCode, refused.json().code, refused.json().param]).toEqual([
        400,
        "invalid_request",
        param,
      ]);
    }
    const badType = await api.request("POST", "/v1/webhook_endpoints", {
      url: "https://example.com/x",
      event_types: ["Invoice Paid"],
    });
    expect([badType.statusCode, badType.json().param]).toEqual([400, "event_types.0"]);
    expect(await tableSnapshot(api.database)).toEqual(before);

    const https = await endpoint({
      url: "https://example.com/hooks",
      event_types: ["invoice.paid", "prompt.shown"],
    });
    const patch = await api.request("PATCH", `/v1/webhook_endpoints/${https.id}`, {
      url: "http://example.com/h",
    });
    expect([patch.statusCode, patch.json().code]).toEqual([422, "webhook_url_not_https"]);
    await remove(https.id);
    // localhost is always allowed; anywhere else only with UPTIER_WEBHOOK_ALLOW_HTTP=on
    expect(() => checkWebhookUrl("http://localhost:3000/x", { allowHttp: false })).not.toThrow();
    expect(() => checkWebhookUrl("http://[::1]:3000/x", { allowHttp: false })).not.toThrow();
    expect(() => checkWebhookUrl("http://example.com/x", { allowHttp: true })).not.toThrow();
  });

  it("answers 404 for an unknown or deleted endpoint and an unknown delivery", async () => {
    const gone = await endpoint();
    await remove(gone.id);
    for (const id of ["we_01UNKNOWN", gone.id]) {
      const answers = await Promise.all([
        api.request("GET", `/v1/webhook_endpoints/${id}`),
        api.request("PATCH", `/v1/webhook_endpoints/${id}`, { description: "x" }),
        api.request("DELETE", `/v1/webhook_endpoints/${id}`),
        api.request("POST", `/v1/webhook_endpoints/${id}/rotate_secret`, {}),
        api.request("GET", `/v1/webhook_endpoints/${id}/deliveries`),
      ]);
      expect(answers.map((a) => [a.statusCode, a.json().code])).toEqual(
        answers.map(() => [404, "resource_not_found"]),
      );
    }
    const replay = await api.request("POST", "/v1/webhook_deliveries/whd_01UNKNOWN/replay", {});
    expect([replay.statusCode, replay.json().code]).toEqual([404, "resource_not_found"]);
  });
});

describe("delivery", () => {
  it("POSTs each matching event once, signed so the package's Webhook.verify accepts it, and logs the attempt", async () => {
    const hook = await endpoint();
    const other = await endpoint({ event_types: ["invoice.paid"] });
    const account = await newAccount();
    await api.request("PATCH", `/v1/accounts/${account}`, { name: "Renamed" }); // account.updated: not wanted
    expect(await enqueueNewEvents()).toBe(1);
    expect(await enqueueNewEvents()).toBe(0);
    expect(await pass()).toMatchObject({ attempted: 1, delivered: 1, failed: 0 });

    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    const headers = request?.headers as Record<string, string>;
    const payload = new Webhook(hook.secret).verify(request?.body ?? "", headers) as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: "account.created",
      account,
      data: { external_id: `hook-${accounts}`, name: "Hooked" },
    });
    expect(headers["webhook-id"]).toBe(payload.id);
    expect(headers["webhook-id"]).toMatch(/^evt_/);
    expect(() => new Webhook(other.secret).verify(request?.body ?? "", headers)).toThrow(/signature/);

    const log = await deliveriesOf(hook.id);
    expect(log.data).toHaveLength(1);
    expect(log.data[0]).toMatchObject({
      object: "webhook_delivery",
      endpoint: hook.id,
      event: { id: payload.id, type: "account.created" },
      account,
      status: "delivered",
      attempt_count: 1,
      next_attempt_at: null,
      attempts: [{ succeeded: true, status_code: 200, response: "ok" }],
    });
    expect(log.data[0].attempts[0].duration_ms).toBeGreaterThanOrEqual(0);
    expect((await deliveriesOf(other.id)).data).toEqual([]);
    await remove(hook.id);
    await remove(other.id);
  });

  it("retries a 500 after the schedule's wait, then delivers; the log keeps both attempts", async () => {
    const hook = await endpoint();
    await newAccount();
    await enqueueNewEvents();
    receiver.script = [{ status: 500, body: "database down" }];
    expect(await pass()).toMatchObject({ attempted: 1, failed: 1 });
    let [delivery] = (await deliveriesOf(hook.id)).data;
    expect(delivery).toMatchObject({
      status: "pending",
      attempt_count: 1,
      next_attempt_at: new Date(api.clock().getTime() + 5 * SECOND).toISOString(),
    });
    expect(await pass()).toMatchObject({ attempted: 0 }); // not due yet
    api.clock.advance(5 * SECOND);
    expect(await pass()).toMatchObject({ attempted: 1, delivered: 1 });
    [delivery] = (await deliveriesOf(hook.id)).data;
    expect(delivery).toMatchObject({ status: "delivered", attempt_count: 2 });
    expect(
      delivery.attempts.map((a: { status_code: number; response: string }) => [a.status_code, a.response]),
    ).toEqual([
      [200, "ok"],
      [500, "database down"],
    ]);
    // the same message both times: one webhook-id, one body
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]?.headers["webhook-id"]).toBe(receiver.received[0]?.headers["webhook-id"]);
    expect(receiver.received[1]?.body).toBe(receiver.received[0]?.body);
    await remove(hook.id);
  });

  it("spreads the waits by the jitter and gives up after the last one", async () => {
    const hook = await endpoint();
    await newAccount();
    await enqueueNewEvents();
    receiver.fallback = { status: 503 };
    const schedule = [10 * SECOND, 20 * SECOND];
    const at = api.clock().getTime();
    await pass({ retrySchedule: schedule, random: () => 0 });
    expect((await deliveriesOf(hook.id)).data[0].next_attempt_at).toBe(
      new Date(at + 8 * SECOND).toISOString(),
    );
    api.clock.advance(8 * SECOND);
    await pass({ retrySchedule: schedule, random: () => 0.999_999 });
    expect((await deliveriesOf(hook.id)).data[0].next_attempt_at).toBe(
      new Date(at + 8 * SECOND + 24 * SECOND).toISOString(),
    );
    api.clock.advance(24 * SECOND);
    await pass({ retrySchedule: schedule });
    expect((await deliveriesOf(hook.id)).data[0]).toMatchObject({
      status: "failed",
      attempt_count: 3,
      next_attempt_at: null,
    });
    expect(await pass({ retrySchedule: schedule })).toMatchObject({ attempted: 0 });
    await remove(hook.id);
  });

  it("replays a delivered message on request: the same webhook-id and body, a new attempt in the log", async () => {
    const hook = await endpoint();
    await newAccount();
    await enqueueNewEvents();
    await pass();
    const [delivery] = (await deliveriesOf(hook.id)).data;
    const replayed = await api.request("POST", `/v1/webhook_deliveries/${delivery.id}/replay`, {});
    expect(replayed.json()).toMatchObject({ id: delivery.id, status: "pending", attempt_count: 1 });
    expect(await pass()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]?.body).toBe(receiver.received[0]?.body);
    expect(receiver.received[1]?.headers["webhook-id"]).toBe(receiver.received[0]?.headers["webhook-id"]);
    const [after] = (await deliveriesOf(hook.id)).data;
    expect(after).toMatchObject({ status: "delivered", attempt_count: 2 });
    expect(after.attempts).toHaveLength(2);
    await remove(hook.id);
  });

  it("signs with the old secret beside the new one for a day after a rotation", async () => {
    const hook = await endpoint();
    const rotated = (await api.request("POST", `/v1/webhook_endpoints/${hook.id}/rotate_secret`, {})).json();
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(hook.secret);
    await newAccount();
    await enqueueNewEvents();
    await pass();
    const [first] = receiver.received;
    const headers = first?.headers as Record<string, string>;
    expect(headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    for (const secret of [rotated.secret, hook.secret])
      expect(new Webhook(secret).verify(first?.body ?? "", headers)).toMatchObject({
        type: "account.created",
      });

    api.clock.advance(24 * 3600 * SECOND);
    await newAccount();
    await enqueueNewEvents();
    await pass();
    const second = receiver.received[1];
    const later = second?.headers as Record<string, string>;
    expect(new Webhook(rotated.secret).verify(second?.body ?? "", later)).toMatchObject({
      type: "account.created",
    });
    expect(() => new Webhook(hook.secret).verify(second?.body ?? "", later)).toThrow(/signature/);
    await remove(hook.id);
  });

  it("never holds up the API: a hung endpoint times out in the worker while requests are answered", async () => {
    const hook = await endpoint();
    await newAccount();
    await enqueueNewEvents();
    receiver.script = ["hang"];
    let passDone = false;
    const running = pass({ timeoutMs: 1500 }).then((r) => {
      passDone = true;
      return r;
    });
    while (receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // the endpoint holds the worker's request; the API answers meanwhile
    const read = await api.request("GET", `/v1/webhook_endpoints/${hook.id}`);
    expect(read.statusCode).toBe(200);
    expect(
      (await api.request("POST", "/v1/accounts", { external_id: "during-hang", name: "x" })).statusCode,
    ).toBe(201);
    expect(passDone).toBe(false);
    expect(await running).toMatchObject({ attempted: 1, failed: 1 });
    const [delivery] = (await deliveriesOf(hook.id)).data;
    expect(delivery.attempts[0]).toMatchObject({ status_code: null, response: "no answer within 1500 ms" });
    expect(delivery.status).toBe("pending");
    await remove(hook.id);
  });

  it("sends each delivery once when two workers pass at the same time", async () => {
    const hook = await endpoint();
    for (let i = 0; i < 6; i++) await newAccount();
    expect(await enqueueNewEvents()).toBe(6);
    const [a, b] = await Promise.all([pass({ batchSize: 4 }), pass({ batchSize: 4 })]);
    expect((a?.attempted ?? 0) + (b?.attempted ?? 0)).toBe(6);
    const ids = receiver.received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(6);
    expect(ids).toHaveLength(6);
    await remove(hook.id);
  });

  it("runs by itself once started, and stops", async () => {
    const hook = await endpoint();
    const running = startWebhookDelivery({ ...worker(), pollIntervalMs: 20 });
    try {
      await newAccount();
      await enqueueNewEvents();
      running.wake();
      for (let i = 0; receiver.received.length === 0 && i < 500; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(receiver.received).toHaveLength(1);
    } finally {
      await running.stop();
    }
    await remove(hook.id);
  });

  it("logs a refused connection as an attempt with no status", async () => {
    const closed = await WebhookReceiver.start();
    const url = closed.url();
    await closed.close();
    const hook = await endpoint({ url });
    await newAccount();
    await enqueueNewEvents();
    expect(await pass()).toMatchObject({ attempted: 1, failed: 1 });
    const [delivery] = (await deliveriesOf(hook.id)).data;
    expect(delivery.attempts[0]).toMatchObject({
      status_code: null,
      response: "could not deliver: ECONNREFUSED",
    });
    await remove(hook.id);
  });
});

describe("disabling an endpoint that keeps failing", () => {
  const schedule = [SECOND];
  const policy = { failingForMs: 5 * 24 * 3600 * SECOND, failedDeliveries: 2 };

  it("disables it after consecutive deliveries use up their retries, says so in the log, and takes no more", async () => {
    const hook = await endpoint();
    receiver.fallback = { status: 500, body: "no" };
    for (let i = 0; i < 2; i++) {
      await newAccount();
      await enqueueNewEvents();
      await pass({ retrySchedule: schedule, disablePolicy: policy });
      api.clock.advance(SECOND);
      await pass({ retrySchedule: schedule, disablePolicy: policy });
    }
    const read = (await api.request("GET", `/v1/webhook_endpoints/${hook.id}`)).json();
    expect(read).toMatchObject({ status: "disabled", disabled_reason: "failed_deliveries" });
    expect(read.failing_since).not.toBeNull();
    const disabled = await api.database.db
      .select()
      .from(domainEvents)
      .where(eq(domainEvents.type, "webhook_endpoint.disabled"));
    expect(disabled.map((e) => e.data)).toEqual([
      { endpoint: hook.id, url: hook.url, reason: "failed_deliveries", failing_since: read.failing_since },
    ]);

    // a disabled endpoint is sent nothing new, and its deliveries cannot be replayed
    await newAccount();
    expect(await enqueueNewEvents()).toBe(0);
    const [failed] = (await deliveriesOf(hook.id)).data;
    const replay = await api.request("POST", `/v1/webhook_deliveries/${failed.id}/replay`, {});
    expect([replay.statusCode, replay.json().code]).toEqual([409, "webhook_endpoint_disabled"]);

    // enabled again, its record is clean and a replay goes out
    receiver.fallback = { status: 204 };
    const enabled = await api.request("PATCH", `/v1/webhook_endpoints/${hook.id}`, { status: "enabled" });
    expect(enabled.json()).toMatchObject({ status: "enabled", disabled_reason: null, failing_since: null });
    await api.request("POST", `/v1/webhook_deliveries/${failed.id}/replay`, {});
    expect(await pass()).toMatchObject({ attempted: 1, delivered: 1 });
    await remove(hook.id);
  });

  it("disables it once every attempt has failed for five days", async () => {
    const hook = await endpoint();
    receiver.fallback = { status: 502 };
    const days = { ...policy, failedDeliveries: 1000 };
    await newAccount();
    await enqueueNewEvents();
    await pass({ retrySchedule: schedule, disablePolicy: days });
    api.clock.advance(4 * 24 * 3600 * SECOND);
    await newAccount();
    await enqueueNewEvents();
    await pass({ retrySchedule: schedule, disablePolicy: days });
    expect((await api.request("GET", `/v1/webhook_endpoints/${hook.id}`)).json().status).toBe("enabled");
    api.clock.advance(24 * 3600 * SECOND);
    await newAccount();
    await enqueueNewEvents();
    await pass({ retrySchedule: schedule, disablePolicy: days });
    expect((await api.request("GET", `/v1/webhook_endpoints/${hook.id}`)).json()).toMatchObject({
      status: "disabled",
      disabled_reason: "failing_for_days",
    });
    // its waiting delivery stays queued, held, unsent, until it is enabled again
    const held = (await deliveriesOf(hook.id, "?status=pending")).data;
    expect(held).toHaveLength(1);
    expect(held[0].next_attempt_at).toBeNull();
    api.clock.advance(3600 * SECOND);
    expect(await pass({ retrySchedule: schedule, disablePolicy: days })).toMatchObject({ attempted: 0 });
    receiver.fallback = { status: 200 };
    await api.request("PATCH", `/v1/webhook_endpoints/${hook.id}`, { status: "enabled" });
    expect((await deliveriesOf(hook.id, "?status=pending")).data[0].next_attempt_at).toBe(
      api.clock().toISOString(),
    );
    expect(await pass({ retrySchedule: schedule, disablePolicy: days })).toMatchObject({
      attempted: 1,
      delivered: 1,
    });
    await remove(hook.id);
  });

  it("a success in between clears the failure record", async () => {
    const hook = await endpoint();
    receiver.script = [{ status: 500 }];
    await newAccount();
    await enqueueNewEvents();
    await pass();
    expect(
      (await api.request("GET", `/v1/webhook_endpoints/${hook.id}`)).json().failing_since,
    ).not.toBeNull();
    api.clock.advance(5 * SECOND);
    await pass();
    expect((await api.request("GET", `/v1/webhook_endpoints/${hook.id}`)).json().failing_since).toBeNull();
    await remove(hook.id);
  });
});
