import { and, eq, isNull } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { webhookDeliveries, webhookEndpoints } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";

/**
 * Something to tell the vendor's endpoints: a domain event from the log, or a play's action. Its
 * id is the message id (webhook-id) receivers deduplicate by, so it must be the same each time the
 * same thing is enqueued.
 */
export interface WebhookEvent {
  /** evt_… for a domain event; a play action's own stable id */
  readonly id: string;
  /** `noun.verb`: a type of the domain-event catalog or a play action type */
  readonly type: string;
  readonly account: string | null;
  readonly data: unknown;
  /** when it happened (the event's created_at) */
  readonly createdAt: Date;
}

/** The JSON body every attempt sends (Standard Webhooks' type, timestamp and data, with id and account). */
export function webhookBody(event: WebhookEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    account: event.account,
    data: event.data,
  });
}

const wants = (eventTypes: readonly string[], type: string) =>
  eventTypes.includes("*") || eventTypes.includes(type);

/**
 * Queues one delivery per (enabled endpoint, event) the endpoint's filter takes, in the caller's
 * transaction, so it commits with whatever consumed the events (a subscriber's cursor). Enqueueing
 * an event again queues nothing new: the pair is unique. Answers how many deliveries were queued.
 * The delivery worker sends them; nothing here waits on an endpoint.
 */
export async function enqueueWebhookDeliveries(tx: Tx, events: readonly WebhookEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const endpoints = await tx
    .select({ id: webhookEndpoints.id, eventTypes: webhookEndpoints.eventTypes })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.status, "enabled"), isNull(webhookEndpoints.deletedAt)));
  if (endpoints.length === 0) return 0;
  const rows: (typeof webhookDeliveries.$inferInsert)[] = [];
  for (const event of events) {
    const matching = endpoints.filter((e) => wants(e.eventTypes, event.type));
    if (matching.length === 0) continue;
    const body = webhookBody(event);
    for (const endpoint of matching)
      rows.push({
        id: newId("webhookDelivery", event.createdAt),
        endpointId: endpoint.id,
        eventId: event.id,
        eventType: event.type,
        accountId: event.account,
        body,
        status: "pending",
        nextAttemptAt: event.createdAt,
        createdAt: event.createdAt,
      });
  }
  if (rows.length === 0) return 0;
  let queued = 0;
  // bounded statements: a large batch of events to several endpoints is many rows
  for (let i = 0; i < rows.length; i += 500) {
    const inserted = await tx
      .insert(webhookDeliveries)
      .values(rows.slice(i, i + 500))
      .onConflictDoNothing()
      .returning({ id: webhookDeliveries.id });
    queued += inserted.length;
  }
  return queued;
}
