import { randomBytes } from "node:crypto";
import type {
  CreateWebhookEndpointInput,
  ListWebhookEndpointsQuery,
  UpdateWebhookEndpointInput,
} from "@uptier/core/api";
import { and, desc, eq, isNull, lt } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { webhookDeliveries, webhookEndpoints } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { DomainError, notFound } from "../errors.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";

/**
 * The vendor's webhook endpoints: where Uptier POSTs its domain events and play actions, signed
 * per Standard Webhooks with a secret shown once. See docs/webhooks.md.
 */

/** Whether plain http is allowed to any host (a development switch), beside localhost. */
export interface WebhookUrlPolicy {
  readonly allowHttp: boolean;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** https, or http to this machine (or anywhere, when the policy allows it). */
export function checkWebhookUrl(url: string, policy: WebhookUrlPolicy): void {
  const parsed = new URL(url);
  if (parsed.protocol === "https:" || policy.allowHttp || LOCAL_HOSTS.has(parsed.hostname)) return;
  throw new DomainError(
    "webhook_url_not_https",
    "Webhook endpoints must use https (plain http only to localhost, or with UPTIER_WEBHOOK_ALLOW_HTTP=on).",
    { param: "url" },
  );
}

/** "whsec_" and 32 random bytes in base64, the format the standardwebhooks libraries read. */
const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** How long the secret before a rotation keeps signing beside the new one. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 3_600_000;

type EndpointRow = typeof webhookEndpoints.$inferSelect;

export function webhookEndpointView(row: EndpointRow) {
  return {
    id: row.id,
    object: "webhook_endpoint" as const,
    url: row.url,
    description: row.description,
    event_types: row.eventTypes,
    status: row.status,
    disabled_reason: row.disabledReason,
    disabled_at: row.disabledAt?.toISOString() ?? null,
    failing_since: row.failingSince?.toISOString() ?? null,
    created: row.createdAt.toISOString(),
    updated: row.updatedAt.toISOString(),
  };
}
export type WebhookEndpointView = ReturnType<typeof webhookEndpointView>;

/** The view with the signing secret: only the answers to create and rotate carry it. */
const withSecret = (row: EndpointRow) => ({ ...webhookEndpointView(row), secret: row.secret });

export async function createWebhookEndpoint(
  tx: Tx,
  input: z.infer<typeof CreateWebhookEndpointInput>,
  policy: WebhookUrlPolicy,
  at: Date,
) {
  checkWebhookUrl(input.url, policy);
  const [row] = await tx
    .insert(webhookEndpoints)
    .values({
      id: newId("webhookEndpoint", at),
      url: input.url,
      description: input.description,
      eventTypes: [...new Set(input.event_types)],
      secret: newSecret(),
      status: "enabled",
      createdAt: at,
      updatedAt: at,
    })
    .returning();
  return withSecret(row as EndpointRow);
}

/** A live (not deleted) endpoint, or 404; `lock` takes its row lock for a change. */
export async function findWebhookEndpoint(db: Executor, id: string, lock = false): Promise<EndpointRow> {
  const query = db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), isNull(webhookEndpoints.deletedAt)));
  const [row] = lock ? await query.for("update") : await query;
  if (!row) throw notFound("webhook endpoint", id);
  return row;
}

export async function getWebhookEndpoint(db: Executor, id: string) {
  return webhookEndpointView(await findWebhookEndpoint(db, id));
}

export async function listWebhookEndpoints(
  db: Executor,
  query: z.infer<typeof ListWebhookEndpointsQuery>,
): Promise<Page<WebhookEndpointView>> {
  const cursor = decodeCursor(query.cursor, "we");
  const rows = await db
    .select()
    .from(webhookEndpoints)
    .where(and(isNull(webhookEndpoints.deletedAt), cursor ? lt(webhookEndpoints.id, cursor) : undefined))
    .orderBy(desc(webhookEndpoints.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, webhookEndpointView);
}

export async function updateWebhookEndpoint(
  tx: Tx,
  id: string,
  patch: z.infer<typeof UpdateWebhookEndpointInput>,
  policy: WebhookUrlPolicy,
  at: Date,
) {
  const current = await findWebhookEndpoint(tx, id, true);
  if (patch.url !== undefined) checkWebhookUrl(patch.url, policy);
  const enabling = patch.status === "enabled" && current.status === "disabled";
  const disabling = patch.status === "disabled" && current.status === "enabled";
  const [row] = await tx
    .update(webhookEndpoints)
    .set({
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.event_types !== undefined ? { eventTypes: [...new Set(patch.event_types)] } : {}),
      ...(enabling
        ? {
            status: "enabled" as const,
            disabledReason: null,
            disabledAt: null,
            failingSince: null,
            consecutiveFailedDeliveries: 0,
          }
        : {}),
      ...(disabling ? { status: "disabled" as const, disabledReason: "manual", disabledAt: at } : {}),
      updatedAt: at,
    })
    .where(eq(webhookEndpoints.id, id))
    .returning();
  if (enabling || disabling) await holdDeliveries(tx, id, disabling, at);
  return webhookEndpointView(row as EndpointRow);
}

/**
 * A disabled endpoint's waiting deliveries leave the worker's due list (no next attempt), so they
 * cost its passes nothing; enabled again, they are due at once.
 */
export async function holdDeliveries(tx: Tx, endpointId: string, hold: boolean, at: Date): Promise<void> {
  await tx
    .update(webhookDeliveries)
    .set({ nextAttemptAt: hold ? null : at })
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        eq(webhookDeliveries.status, "pending"),
        hold ? undefined : isNull(webhookDeliveries.nextAttemptAt),
      ),
    );
}

/**
 * A new secret, shown once; the old one goes on signing beside it (a second signature in
 * webhook-signature) for PREVIOUS_SECRET_GRACE_MS, so receivers can switch without losing a message.
 */
export async function rotateWebhookSecret(tx: Tx, id: string, at: Date) {
  const current = await findWebhookEndpoint(tx, id, true);
  const [row] = await tx
    .update(webhookEndpoints)
    .set({
      secret: newSecret(),
      previousSecret: current.secret,
      previousSecretExpiresAt: new Date(at.getTime() + PREVIOUS_SECRET_GRACE_MS),
      updatedAt: at,
    })
    .where(eq(webhookEndpoints.id, id))
    .returning();
  return withSecret(row as EndpointRow);
}

/** Deletes an endpoint: it receives nothing more, and its waiting deliveries are canceled. */
export async function deleteWebhookEndpoint(tx: Tx, id: string, at: Date) {
  await findWebhookEndpoint(tx, id, true);
  await tx.update(webhookEndpoints).set({ deletedAt: at, updatedAt: at }).where(eq(webhookEndpoints.id, id));
  await tx
    .update(webhookDeliveries)
    .set({ status: "canceled", nextAttemptAt: null })
    .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, "pending")));
  return { id, object: "webhook_endpoint" as const, deleted: true as const };
}
