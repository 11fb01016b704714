import { z } from "zod";
import { Instant } from "./fields.ts";

/** What the webhook routes answer (docs/webhooks.md). */

export const WebhookEndpointResponse = z
  .object({
    id: z.string(),
    object: z.literal("webhook_endpoint"),
    url: z.string(),
    description: z.string(),
    event_types: z.array(z.string()),
    status: z.enum(["enabled", "disabled"]),
    disabled_reason: z
      .string()
      .nullable()
      .describe("manual, failing_for_days or failed_deliveries (docs/webhooks.md)"),
    disabled_at: Instant.nullable(),
    failing_since: Instant.nullable().describe("The first failed attempt since the last success"),
    created: Instant,
    updated: Instant,
  })
  .meta({ id: "WebhookEndpoint" });

export const WebhookEndpointWithSecret = WebhookEndpointResponse.extend({
  secret: z.string().describe("whsec_…: shown only in this answer; verify deliveries with it"),
}).meta({ id: "WebhookEndpointWithSecret" });

export const WebhookDeliveryResponse = z
  .object({
    id: z.string(),
    object: z.literal("webhook_delivery"),
    endpoint: z.string(),
    event: z.object({ id: z.string().describe("Sent as webhook-id"), type: z.string() }),
    account: z.string().nullable(),
    status: z.enum(["pending", "delivered", "failed", "canceled"]),
    attempt_count: z.number().int(),
    next_attempt_at: Instant.nullable(),
    delivered_at: Instant.nullable(),
    created: Instant,
    attempts: z
      .array(
        z.object({
          id: z.string(),
          attempted_at: Instant,
          succeeded: z.boolean(),
          status_code: z.number().int().nullable().describe("null when no answer came"),
          duration_ms: z.number().int(),
          response: z.string().describe("The start of the answer's body, or why there was none"),
        }),
      )
      .describe("The latest attempts, newest first"),
  })
  .meta({ id: "WebhookDelivery" });
