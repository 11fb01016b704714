import type { DurableSubscription } from "../events/durable-subscriber.ts";
import { enqueueWebhookDeliveries } from "./enqueue.ts";

/**
 * The durable subscriber that turns every committed domain event into deliveries for the endpoints
 * that want it, in the transaction that moves its cursor: an event is queued once or not at all.
 * It starts at the log's end when first registered (a new deployment does not replay its history).
 */
export function webhookSubscription(onQueued?: () => void): DurableSubscription {
  return {
    name: "webhooks",
    from: "now",
    handle: async (events, tx) => {
      const queued = await enqueueWebhookDeliveries(
        tx,
        events.map((e) => ({ id: e.id, type: e.type, account: e.account, data: e.data, createdAt: e.at })),
      );
      if (queued > 0) onQueued?.();
    },
  };
}
