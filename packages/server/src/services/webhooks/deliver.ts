import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import type { Db } from "../../db/client.ts";
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { type LoopLogger, PollLoop } from "../../lib/poll-loop.ts";
import type { Clock } from "../context.ts";
import { recordEvent } from "../events/append.ts";
import { holdDeliveries } from "./endpoints.ts";
import {
  DEFAULT_DISABLE_POLICY,
  DEFAULT_RETRY_SCHEDULE_MS,
  type DisablePolicy,
  disableReason,
  nextRetryDelay,
} from "./retry-schedule.ts";

/**
 * The delivery worker. The delivery rows are the queue: a pass claims due rows with
 * `FOR UPDATE SKIP LOCKED` and a lease (so two workers never send the same row at once, and a
 * crashed worker's rows come free when the lease ends), sends them outside any transaction, then
 * records each attempt and the next one. Nothing here runs inside a request.
 */
export interface WebhookDeliveryOptions {
  readonly db: Db;
  /** schedules attempts (the signature's timestamp is always the wall clock: receivers check it) */
  readonly clock?: Clock;
  /** the waits before each retry (default: Standard Webhooks' 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) */
  readonly retrySchedule?: readonly number[];
  /** in [0, 1), for the retries' jitter */
  readonly random?: () => number;
  /** how long an endpoint has to answer (default 10 s) */
  readonly timeoutMs?: number;
  /** the most deliveries one pass sends, all at once (default 20) */
  readonly batchSize?: number;
  readonly disablePolicy?: DisablePolicy;
  readonly fetch?: typeof fetch;
  readonly log?: LoopLogger;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** How much of a response body the delivery log keeps. */
export const RESPONSE_SNIPPET_BYTES = 1024;

export interface DeliveryPassReport {
  readonly attempted: number;
  readonly delivered: number;
  readonly failed: number;
  /** the pass took a full batch: more may be due */
  readonly more: boolean;
}

interface Claimed {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly body: string;
  readonly url: string;
  readonly secrets: readonly string[];
}

interface Outcome {
  readonly succeeded: boolean;
  readonly statusCode: number | null;
  readonly durationMs: number;
  readonly response: string;
}

/** One pass: claims what is due, sends it, records every attempt. */
export async function deliverDueWebhooks(options: WebhookDeliveryOptions): Promise<DeliveryPassReport> {
  const clock = options.clock ?? (() => new Date());
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const batchSize = options.batchSize ?? 20;
  const claim = randomUUID();
  const due = await claimDue(options.db, claim, clock(), batchSize, timeoutMs + 60_000);
  const outcomes = await Promise.all(
    due.map(async (delivery) => {
      const outcome = await send(delivery, timeoutMs, options.fetch ?? fetch);
      await recordAttempt(options, clock, delivery, claim, outcome);
      return outcome;
    }),
  );
  const delivered = outcomes.filter((o) => o.succeeded).length;
  return {
    attempted: outcomes.length,
    delivered,
    failed: outcomes.length - delivered,
    more: due.length === batchSize,
  };
}

async function claimDue(db: Db, claim: string, at: Date, limit: number, leaseMs: number): Promise<Claimed[]> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .select({
        id: webhookDeliveries.id,
        endpointId: webhookDeliveries.endpointId,
        eventId: webhookDeliveries.eventId,
        body: webhookDeliveries.body,
        url: webhookEndpoints.url,
        secret: webhookEndpoints.secret,
        previousSecret: webhookEndpoints.previousSecret,
        previousSecretExpiresAt: webhookEndpoints.previousSecretExpiresAt,
      })
      .from(webhookDeliveries)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .where(
        and(
          eq(webhookDeliveries.status, "pending"),
          lte(webhookDeliveries.nextAttemptAt, at),
          or(isNull(webhookDeliveries.claimedUntil), lt(webhookDeliveries.claimedUntil, at)),
          eq(webhookEndpoints.status, "enabled"),
          isNull(webhookEndpoints.deletedAt),
        ),
      )
      .orderBy(asc(webhookDeliveries.nextAttemptAt))
      .limit(limit)
      .for("update", { of: webhookDeliveries, skipLocked: true });
    if (rows.length === 0) return [];
    await tx
      .update(webhookDeliveries)
      .set({ claim, claimedUntil: new Date(at.getTime() + leaseMs) })
      .where(
        inArray(
          webhookDeliveries.id,
          rows.map((r) => r.id),
        ),
      );
    return rows.map((r) => ({
      id: r.id,
      endpointId: r.endpointId,
      eventId: r.eventId,
      body: r.body,
      url: r.url,
      secrets:
        r.previousSecret && r.previousSecretExpiresAt && r.previousSecretExpiresAt > at
          ? [r.secret, r.previousSecret]
          : [r.secret],
    }));
  });
}

/** The Standard Webhooks headers: one signature per live secret, space-separated. */
export function signedHeaders(
  messageId: string,
  body: string,
  secrets: readonly string[],
  at: Date,
): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "Uptier-Webhooks/1",
    "webhook-id": messageId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(messageId, at, body)).join(" "),
  };
}

async function send(delivery: Claimed, timeoutMs: number, post: typeof fetch): Promise<Outcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await post(delivery.url, {
      method: "POST",
      // the wall clock, not the scheduling clock: the receiver rejects a timestamp far from its own
      headers: signedHeaders(delivery.eventId, delivery.body, delivery.secrets, new Date()),
      body: delivery.body,
      // a redirect is a failure: the signed request goes only where the vendor said
      redirect: "manual",
      signal,
    });
    const snippet = await readSnippet(response);
    const succeeded = response.status >= 200 && response.status < 300;
    return { succeeded, statusCode: response.status, durationMs: elapsed(), response: snippet };
  } catch (error) {
    return { succeeded: false, statusCode: null, durationMs: elapsed(), response: why(error, timeoutMs) };
  }
}

/** The start of the body, read no further than RESPONSE_SNIPPET_BYTES; what was read if it stalls. */
async function readSnippet(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // timed out or cut off mid-body: the status stands, the snippet is what came
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES);
  return storable(new TextDecoder("utf-8", { fatal: false }).decode(bytes));
}

/** Text PostgreSQL can store: no NUL, no lone surrogate. */
const storable = (text: string) => text.replaceAll("\u0000", "\ufffd").toWellFormed();

function why(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  const cause = e.cause?.code ?? e.cause?.message;
  return storable(cause ? `could not deliver: ${cause}` : `could not deliver: ${e.message ?? String(error)}`);
}

async function recordAttempt(
  options: WebhookDeliveryOptions,
  clock: Clock,
  delivery: Claimed,
  claim: string,
  outcome: Outcome,
): Promise<void> {
  const schedule = options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE_MS;
  const policy = options.disablePolicy ?? DEFAULT_DISABLE_POLICY;
  const random = options.random ?? Math.random;
  await options.db.transaction(async (tx) => {
    const at = clock();
    // locks in one order everywhere, the endpoint before its deliveries: disabling an endpoint
    // holds its other deliveries, which concurrent records of the same endpoint hold otherwise
    await tx
      .select({ id: webhookEndpoints.id })
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, delivery.endpointId))
      .for("update");
    const [mine] = await tx
      .select({ roundAttempts: webhookDeliveries.roundAttempts })
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.id, delivery.id),
          eq(webhookDeliveries.claim, claim),
          eq(webhookDeliveries.status, "pending"),
        ),
      )
      .for("update");
    // the lease ran out and another worker took the row (its record stands), or the endpoint was
    // deleted meanwhile (the delivery is canceled)
    if (!mine) return;
    await tx.insert(webhookAttempts).values({
      id: newId("webhookAttempt", at),
      deliveryId: delivery.id,
      attemptedAt: at,
      succeeded: outcome.succeeded,
      statusCode: outcome.statusCode,
      durationMs: outcome.durationMs,
      response: outcome.response,
    });
    const released = { claim: null, claimedUntil: null, lastAttemptAt: at };
    const endpoint = eq(webhookEndpoints.id, delivery.endpointId);
    if (outcome.succeeded) {
      await tx
        .update(webhookDeliveries)
        .set({
          ...released,
          status: "delivered",
          deliveredAt: at,
          nextAttemptAt: null,
          attempts: sql`${webhookDeliveries.attempts} + 1`,
          roundAttempts: mine.roundAttempts + 1,
        })
        .where(eq(webhookDeliveries.id, delivery.id));
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: null, consecutiveFailedDeliveries: 0 })
        .where(endpoint);
      return;
    }
    const round = mine.roundAttempts + 1;
    const wait = nextRetryDelay(schedule, round, random());
    const [record] = await tx
      .update(webhookEndpoints)
      .set({
        failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${at.toISOString()}::timestamptz)`,
        consecutiveFailedDeliveries: sql`${webhookEndpoints.consecutiveFailedDeliveries} + ${wait === null ? 1 : 0}`,
      })
      .where(endpoint)
      .returning();
    const reason = record?.status === "enabled" ? disableReason(policy, record, at) : null;
    // a disabled endpoint's deliveries are held (no next attempt) until it is enabled
    const held = record?.status !== "enabled" || reason !== null;
    await tx
      .update(webhookDeliveries)
      .set({
        ...released,
        status: wait === null ? "failed" : "pending",
        nextAttemptAt: wait === null || held ? null : new Date(at.getTime() + wait),
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        roundAttempts: round,
      })
      .where(eq(webhookDeliveries.id, delivery.id));
    if (!record || !reason) return;
    const [disabled] = await tx
      .update(webhookEndpoints)
      .set({ status: "disabled", disabledReason: reason, disabledAt: at, updatedAt: at })
      .where(and(endpoint, eq(webhookEndpoints.status, "enabled")))
      .returning({ id: webhookEndpoints.id });
    if (!disabled) return;
    await holdDeliveries(tx, record.id, true, at);
    options.log?.info({ endpoint: record.id, reason }, "webhook endpoint disabled after repeated failures");
    await recordEvent(tx, {
      type: "webhook_endpoint.disabled",
      accountId: null,
      data: {
        endpoint: record.id,
        url: record.url,
        reason,
        failing_since: record.failingSince?.toISOString() ?? null,
      },
      at,
    });
  });
}

export interface WebhookDeliveryWorker {
  /** sends what is due now, without waiting for the next poll (after a commit that queued deliveries) */
  wake(): void;
  stop(): Promise<void>;
}

/** Starts the worker: a pass every `pollIntervalMs` (default 1 s), at once again while batches are full. */
export function startWebhookDelivery(
  options: WebhookDeliveryOptions & { readonly pollIntervalMs?: number },
): WebhookDeliveryWorker {
  const loop = new PollLoop(
    "webhook delivery",
    () => deliverDueWebhooks(options),
    options.pollIntervalMs ?? 1000,
    options.log,
  );
  loop.start();
  return { wake: () => loop.wake(), stop: () => loop.stop() };
}
