import { sql } from "drizzle-orm";
import { boolean, index, integer, jsonb, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { created, instant } from "./foundation.ts";

/**
 * The outbound channels: webhooks to the vendor's endpoints and email to people. Each outgoing
 * message is a row first (written in the transaction that decided to send it), and a worker sends
 * due rows, so a crash loses nothing and a slow receiver delays no request. Endpoints are the
 * vendor's own configuration (one vendor per deployment), so they carry no account_id; deliveries
 * and emails carry the account of the event they are about.
 */

/** A URL the vendor receives webhooks at, with the event types it wants. */
export const webhookEndpoints = pgTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  description: text("description").notNull().default(""),
  /** domain-event and play-action types, or "*" for every one */
  eventTypes: jsonb("event_types").$type<string[]>().notNull(),
  /** whsec_…: kept as is, since every delivery is signed with it (a hash could not sign) */
  secret: text("secret").notNull(),
  /** the secret before the last rotation, still signing beside the new one until it expires */
  previousSecret: text("previous_secret"),
  previousSecretExpiresAt: instant("previous_secret_expires_at"),
  status: text("status").$type<"enabled" | "disabled">().notNull(),
  disabledReason: text("disabled_reason"),
  disabledAt: instant("disabled_at"),
  /** the first failed attempt since the last success; null while the endpoint answers */
  failingSince: instant("failing_since"),
  /** deliveries that used up every retry since the last success */
  consecutiveFailedDeliveries: integer("consecutive_failed_deliveries").notNull().default(0),
  createdAt: created(),
  updatedAt: instant("updated_at").notNull().defaultNow(),
  deletedAt: instant("deleted_at"),
});

/**
 * One message to one endpoint: one row per (endpoint, event), so enqueueing an event twice sends it
 * once. The row is also the queue: the worker claims due rows with a lease.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id),
    /** the event's id, sent as webhook-id: the receiver's key for deduplication */
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    accountId: text("account_id"),
    /** the exact bytes sent and signed, the same on every attempt */
    body: text("body").notNull(),
    status: text("status").$type<"pending" | "delivered" | "failed" | "canceled">().notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** attempts since it was queued or last replayed: the position in the retry schedule */
    roundAttempts: integer("round_attempts").notNull().default(0),
    nextAttemptAt: instant("next_attempt_at"),
    /** a worker's claim on the row while it sends; an expired claim may be taken by another */
    claim: text("claim"),
    claimedUntil: instant("claimed_until"),
    lastAttemptAt: instant("last_attempt_at"),
    deliveredAt: instant("delivered_at"),
    createdAt: created(),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_endpoint_event").on(t.endpointId, t.eventId),
    index("webhook_deliveries_endpoint").on(t.endpointId, t.id),
    index("webhook_deliveries_due").on(t.nextAttemptAt).where(sql`status = 'pending'`),
  ],
);

/** Every attempt of a delivery, as the delivery log shows it. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id),
    attemptedAt: instant("attempted_at").notNull(),
    succeeded: boolean("succeeded").notNull(),
    /** the HTTP status; null when no response came (refused, timed out) */
    statusCode: integer("status_code"),
    durationMs: integer("duration_ms").notNull(),
    /** the start of the response body, or why there was none */
    response: text("response").notNull(),
  },
  (t) => [index("webhook_attempts_delivery").on(t.deliveryId, t.id)],
);

/**
 * A person Uptier has mailed: the random token of their unsubscribe link, and whether they asked
 * not to be mailed again. Keyed by the address in lower case.
 */
export const emailRecipients = pgTable("email_recipients", {
  address: text("address").primaryKey(),
  unsubscribeToken: text("unsubscribe_token").notNull().unique(),
  suppressedAt: instant("suppressed_at"),
  /** how the suppression came: "link" (the page's button) or "one_click" (RFC 8058, from the mail client) */
  suppressedVia: text("suppressed_via"),
  createdAt: created(),
});

/**
 * The email outbox: one row per message key, so a message is sent once however often it is asked
 * for, and a failed send is retried by the worker.
 */
export const emailMessages = pgTable(
  "email_messages",
  {
    id: text("id").primaryKey(),
    /** the sender's key for the message: the same key is the same message */
    key: text("key").notNull().unique(),
    accountId: text("account_id"),
    to: text("to_address").notNull(),
    subject: text("subject").notNull(),
    html: text("html").notNull(),
    text: text("text").notNull(),
    status: text("status").$type<"queued" | "sent" | "suppressed" | "failed">().notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: instant("next_attempt_at"),
    claim: text("claim"),
    claimedUntil: instant("claimed_until"),
    lastError: text("last_error"),
    /** the Message-ID the SMTP server accepted */
    messageId: text("message_id"),
    sentAt: instant("sent_at"),
    createdAt: created(),
  },
  (t) => [
    index("email_messages_due").on(t.nextAttemptAt).where(sql`status = 'queued'`),
    // the plays' daily cap counts a recipient's play emails
    index("email_messages_play_recipient")
      .on(sql`lower(${t.to})`, t.createdAt)
      .where(sql`key like 'play-step:%'`),
  ],
);
