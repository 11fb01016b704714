import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import { deliverDueWebhooks } from "../../src/services/webhooks/deliver.ts";
import { webhookSubscription } from "../../src/services/webhooks/subscriber.ts";
import { useTestApi } from "../support/harness.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

/** The log's durable subscriber queues what the endpoints want; the worker sends it, signed. */
const api = useTestApi();
let receiver: WebhookReceiver;
let log: DomainEventLog;
let woken = 0;

beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  log = new DomainEventLog(api.database.db, 60_000);
  log.subscribeDurable(webhookSubscription(() => woken++));
  await log.start();
});
afterAll(async () => {
  await log.close();
  await receiver.close();
});

describe("the webhook subscriber of the domain-event log", () => {
  it("delivers an event committed after the endpoint exists, once, signed, and wakes the worker", async () => {
    const created = await api.request("POST", "/v1/webhook_endpoints", {
      url: receiver.url(),
      event_types: ["account.created"],
    });
    expect(created.statusCode).toBe(201);
    const { secret } = created.json() as { secret: string };
    const account = await api.request("POST", "/v1/accounts", { external_id: "sub-1", name: "Subscribed" });
    const accountId = account.json().id as string;

    await log.drainDurable("webhooks");
    await log.drainDurable("webhooks"); // a second drain finds nothing new
    expect(woken).toBe(1);
    const pass = await deliverDueWebhooks({ db: api.database.db, clock: api.clock, random: () => 0.5 });
    expect(pass).toMatchObject({ delivered: 1 });

    expect(receiver.received).toHaveLength(1);
    const [message] = receiver.received;
    const body = new Webhook(secret).verify(
      message?.body ?? "",
      message?.headers as Record<string, string>,
    ) as {
      type: string;
      account: string;
    };
    expect(body).toMatchObject({ type: "account.created", account: accountId });
    expect(message?.headers["webhook-id"]).toMatch(/^evt_/);
  });
});
