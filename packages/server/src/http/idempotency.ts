import { createHash } from "node:crypto";
import { and, eq, lt } from "drizzle-orm";
import type { FastifyRequest } from "fastify";
import type { Db, Tx } from "../db/client.ts";
import { idempotencyKeys } from "../db/schema/index.ts";
import { canonicalJson } from "../lib/canonical-json.ts";
import { anyCause, sqlState } from "../lib/error-causes.ts";
import { ApiError } from "./problem.ts";

/** Stripe keeps keys 24 h; we keep them 35 days so a retry after a long outage is still safe. */
export const IDEMPOTENCY_RETENTION_DAYS = 35;

export interface OperationResult {
  readonly status: number;
  readonly body: unknown;
}

function requestHash(request: FastifyRequest): string {
  return createHash("sha256")
    .update(`${request.method} ${request.routeOptions.url ?? request.url} ${request.url}\n`)
    .update(canonicalJson(request.body ?? null))
    .digest("hex");
}

const isUniqueViolation = (error: unknown) => anyCause(error, (e) => sqlState(e) === "23505");

/**
 * Runs a mutating operation in one transaction together with the record of its Idempotency-Key,
 * so the effect and the key commit or roll back together. A replay returns the first response; the
 * same key with another request is rejected. Two concurrent requests with one key: the second
 * blocks on the key's row until the first commits, then fails and is answered by replay.
 */
export async function runIdempotent(
  db: Db,
  request: FastifyRequest,
  operation: (tx: Tx) => Promise<OperationResult>,
): Promise<OperationResult & { replayed: boolean }> {
  const key = request.headers["idempotency-key"];
  if (key === undefined) return { ...(await db.transaction(operation)), replayed: false };
  if (typeof key !== "string" || key.length === 0 || key.length > 255)
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters.", {
      param: "Idempotency-Key",
    });
  const apiKeyId = request.caller.apiKeyId;
  const hash = requestHash(request);

  const replay = async (): Promise<(OperationResult & { replayed: boolean }) | null> => {
    const [stored] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.apiKeyId, apiKeyId), eq(idempotencyKeys.key, key)));
    if (!stored) return null;
    if (stored.requestHash !== hash)
      throw new ApiError(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
        { param: "Idempotency-Key" },
      );
    return { status: stored.statusCode, body: stored.response, replayed: true };
  };

  const first = await replay();
  if (first) return first;
  try {
    const result = await db.transaction(async (tx) => {
      // Claim the key first: a concurrent request with the same key blocks on this row until we
      // commit (then replays our response) or roll back (then runs itself).
      await tx
        .insert(idempotencyKeys)
        .values({ apiKeyId, key, requestHash: hash, statusCode: 0, response: {} });
      const outcome = await operation(tx);
      await tx
        .update(idempotencyKeys)
        .set({ statusCode: outcome.status, response: outcome.body as object })
        .where(and(eq(idempotencyKeys.apiKeyId, apiKeyId), eq(idempotencyKeys.key, key)));
      return outcome;
    });
    return { ...result, replayed: false };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const raced = await replay();
    if (raced) return raced;
    throw error;
  }
}

export async function pruneIdempotencyKeys(db: Db, now: Date): Promise<void> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_RETENTION_DAYS * 86_400_000);
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, cutoff));
}
