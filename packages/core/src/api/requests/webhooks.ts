import { z } from "zod";
import { DOMAIN_EVENT_TYPES } from "../events.ts";
import { ListQuery } from "./common.ts";

/** Webhook endpoints and their delivery log (docs/webhooks.md). */

/** A domain event's or play action's type (`noun.verb`, maybe deeper), or "*" for every one. */
const EventType = z
  .string()
  .max(100)
  .regex(/^(\*|[a-z_]+(\.[a-z_]+)+)$/, 'is not an event type ("noun.verb") or "*"')
  .describe(`A domain event type (${DOMAIN_EVENT_TYPES.join(", ")}), a play action type, or "*" for all`);

const EventTypes = z.array(EventType).min(1).max(100);

export const WebhookUrl = z
  .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .max(2048)
  .describe("https; http only to localhost (or anywhere with UPTIER_WEBHOOK_ALLOW_HTTP=on)");

export const CreateWebhookEndpointInput = z
  .object({
    url: WebhookUrl,
    description: z.string().max(500).default(""),
    event_types: EventTypes.default(["*"]),
  })
  .strict();

export const UpdateWebhookEndpointInput = z
  .object({
    url: WebhookUrl.optional(),
    description: z.string().max(500).optional(),
    event_types: EventTypes.optional(),
    status: z
      .enum(["enabled", "disabled"])
      .optional()
      .describe("Enabling a disabled endpoint clears its failure record; its waiting deliveries resume"),
  })
  .strict();

export const ListWebhookEndpointsQuery = ListQuery;

export const ListWebhookDeliveriesQuery = ListQuery.extend({
  status: z.enum(["pending", "delivered", "failed", "canceled"]).optional(),
}).strict();
