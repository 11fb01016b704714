import type { ListWebhookDeliveriesQuery } from "@uptier/core/api";
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from "../../db/schema/index.ts";
import { DomainError, notFound } from "../errors.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import { findWebhookEndpoint } from "./endpoints.ts";

/** The delivery log: every message to an endpoint and each of its attempts; and replay. */

/** The most attempts a delivery's view lists (newest first); `attempt_count` has them all. */
export const ATTEMPTS_SHOWN = 25;

type DeliveryRow = typeof webhookDeliveries.$inferSelect;
type AttemptRow = typeof webhookAttempts.$inferSelect;

function deliveryView(row: DeliveryRow, attempts: readonly AttemptRow[]) {
  return {
    id: row.id,
    object: "webhook_delivery" as const,
    endpoint: row.endpointId,
    event: { id: row.eventId, type: row.eventType },
    account: row.accountId,
    status: row.status,
    attempt_count: row.attempts,
    // pending with no next attempt: held while its endpoint is disabled
    next_attempt_at: row.status === "pending" ? (row.nextAttemptAt?.toISOString() ?? null) : null,
    delivered_at: row.deliveredAt?.toISOString() ?? null,
    created: row.createdAt.toISOString(),
    attempts: attempts.map((a) => ({
      id: a.id,
      attempted_at: a.attemptedAt.toISOString(),
      succeeded: a.succeeded,
      status_code: a.statusCode,
      duration_ms: a.durationMs,
      response: a.response,
    })),
  };
}
export type WebhookDeliveryView = ReturnType<typeof deliveryView>;

async function withAttempts(db: Executor, rows: readonly DeliveryRow[]) {
  const ids = rows.map((r) => r.id);
  const attempts =
    ids.length === 0
      ? []
      : await db
          .select()
          .from(webhookAttempts)
          .where(inArray(webhookAttempts.deliveryId, ids))
          .orderBy(desc(webhookAttempts.id));
  const byDelivery = new Map<string, AttemptRow[]>();
  for (const a of attempts) {
    const list = byDelivery.get(a.deliveryId) ?? [];
    if (list.length < ATTEMPTS_SHOWN) list.push(a);
    byDelivery.set(a.deliveryId, list);
  }
  return (row: DeliveryRow) => deliveryView(row, byDelivery.get(row.id) ?? []);
}

/** An endpoint's deliveries, newest event first, each with its latest attempts. */
export async function listWebhookDeliveries(
  db: Executor,
  endpointId: string,
  query: z.infer<typeof ListWebhookDeliveriesQuery>,
): Promise<Page<WebhookDeliveryView>> {
  await findWebhookEndpoint(db, endpointId);
  const cursor = decodeCursor(query.cursor, "whd");
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        cursor ? lt(webhookDeliveries.id, cursor) : undefined,
        query.status ? eq(webhookDeliveries.status, query.status) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, await withAttempts(db, rows.slice(0, query.limit)));
}

/**
 * Sends a delivery again, as soon as the worker's next pass: the same message (same webhook-id
 * and body, so a receiver that already handled it can tell), with a fresh retry schedule. Refused
 * for a deleted or disabled endpoint; a delivery still pending is simply brought forward.
 */
export async function replayWebhookDelivery(tx: Tx, id: string, at: Date): Promise<WebhookDeliveryView> {
  const [row] = await tx
    .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints })
    .from(webhookDeliveries)
    .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
    .where(eq(webhookDeliveries.id, id))
    .for("update", { of: webhookDeliveries });
  if (!row || row.endpoint.deletedAt) throw notFound("webhook delivery", id);
  if (row.endpoint.status !== "enabled")
    throw new DomainError(
      "webhook_endpoint_disabled",
      `The endpoint ${row.endpoint.id} is disabled: enable it (PATCH status "enabled") before replaying.`,
      { param: "id" },
    );
  const [replayed] = await tx
    .update(webhookDeliveries)
    .set({ status: "pending", nextAttemptAt: at, roundAttempts: 0 })
    .where(eq(webhookDeliveries.id, id))
    .returning();
  return (await withAttempts(tx, [replayed as DeliveryRow]))(replayed as DeliveryRow);
}
