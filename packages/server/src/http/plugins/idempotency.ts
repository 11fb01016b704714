import { createHash, randomUUID } from "node:crypto";
import { and, eq, lt, sql } from "drizzle-orm";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db, Executor, Tx } from "../../db/client.ts";
import { idempotencyKeys } from "../../db/schema/index.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { anyCause, sqlState } from "../../lib/error-causes.ts";
import { ApiError, PROBLEM_CONTENT_TYPE, problemDocument, toApiError } from "../problem.ts";

/** Stripe keeps keys 24 h; we keep them 35 days so a retry after a long outage is still safe. */
export const IDEMPOTENCY_RETENTION_DAYS = 35;

/**
 * How long a request that moves money holds its key while it runs. A retry inside it is told the
 * key is in use; after it, the holder is taken for dead and the retry resumes the request (the
 * checkouts' recovery takes the same minute to call a checkout abandoned).
 */
export const CLAIM_LEASE_MS = 60_000;

export interface OperationResult {
  readonly status: number;
  readonly body: unknown;
}

/** 1 to 255 printable ASCII characters, not starting or ending with a space. */
const KEY_FORM = /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/;

function sentTwice(request: FastifyRequest): boolean {
  const raw = request.raw.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === "idempotency-key") seen++;
  return seen > 1;
}

/** The request's Idempotency-Key; undefined when none was sent, 400 when it is not a key. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = request.headers["idempotency-key"];
  if (key === undefined) return undefined;
  if (typeof key !== "string" || !KEY_FORM.test(key) || sentTwice(request))
    throw new ApiError(
      400,
      "invalid_idempotency_key",
      "Idempotency-Key must be sent once, as 1 to 255 printable ASCII characters (spaces only between others).",
      { param: "Idempotency-Key" },
    );
  return key;
}

/** onRequest hook: a POST's key is checked before its body is read, so a bad one has done nothing. */
export function checkIdempotencyKey(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (error?: Error) => void,
): void {
  try {
    if (request.method === "POST") idempotencyKeyOf(request);
    done();
  } catch (error) {
    done(error as Error);
  }
}

interface KeyScope {
  readonly apiKeyId: string;
  readonly key: string;
  readonly hash: string;
}

function scopeOf(request: FastifyRequest, key: string): KeyScope {
  const hash = createHash("sha256")
    .update(`${request.method} ${request.routeOptions.url ?? request.url} ${request.url}\n`)
    .update(canonicalJson(request.body ?? null))
    .digest("hex");
  return { apiKeyId: request.caller.apiKeyId, key, hash };
}

const keyRow = (scope: KeyScope) =>
  and(eq(idempotencyKeys.apiKeyId, scope.apiKeyId), eq(idempotencyKeys.key, scope.key));

/** A claim in progress: status_code 0, and this as its response (no column of its own needed). */
interface Lease {
  readonly claim: string;
  /** ms since the epoch; 0 lets the next retry resume at once */
  readonly until: number;
}
const heldBy = (scope: KeyScope, claim: string) =>
  and(
    keyRow(scope),
    eq(idempotencyKeys.statusCode, 0),
    sql`${idempotencyKeys.response}->>'claim' = ${claim}`,
  );

const keyReused = () =>
  new ApiError(
    422,
    "idempotency_key_reused",
    "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
    { param: "Idempotency-Key" },
  );
const keyInUse = () =>
  new ApiError(
    409,
    "idempotency_key_in_use",
    "A request with this Idempotency-Key is still running. Retry it in a moment: it will answer that request's outcome.",
    { param: "Idempotency-Key", retryAfter: 1 },
  );

interface StoredAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * What the key holds for this request: nothing, a finished answer, or a claim in progress. A key
 * used by another request is refused.
 */
async function keyState(
  db: Db,
  scope: KeyScope,
): Promise<null | { answer: StoredAnswer } | { lease: Lease }> {
  const [stored] = await db.select().from(idempotencyKeys).where(keyRow(scope));
  if (!stored) return null;
  if (stored.requestHash !== scope.hash) throw keyReused();
  if (stored.statusCode === 0) return { lease: stored.response as Lease };
  return { answer: { status: stored.statusCode, text: canonicalJson(stored.response) } };
}

/** The answer recorded under the key, or null; a claim in progress is 409. */
async function storedAnswer(db: Db, scope: KeyScope): Promise<StoredAnswer | null> {
  const state = await keyState(db, scope);
  if (state && "lease" in state) throw keyInUse();
  return state?.answer ?? null;
}

/**
 * The answer as sent and as recorded: serialized by the route's response schema, then with its keys
 * sorted, so a replay (read back from jsonb, which keeps no key order) sends the same bytes.
 */
function canonicalAnswer(reply: FastifyReply, outcome: OperationResult): StoredAnswer {
  reply.code(outcome.status);
  return { status: outcome.status, text: canonicalJson(JSON.parse(reply.serialize(outcome.body) as string)) };
}

function send(reply: FastifyReply, answer: StoredAnswer, replayed: boolean): FastifyReply {
  if (replayed) reply.header("idempotent-replayed", "true");
  const type = answer.status >= 400 ? PROBLEM_CONTENT_TYPE : "application/json; charset=utf-8";
  return reply.code(answer.status).type(type).send(answer.text);
}

/** A refusal about the state of things, final for the request that met it. */
const RECORDED_STATUSES = new Set([402, 403, 404, 409, 422]);
/** Conflicts with a request running at the same time: the same request may fare otherwise later. */
const CONCURRENT_CODES = new Set([
  "idempotency_key_in_use",
  "idempotency_key_reused",
  "checkout_in_progress",
]);

/**
 * The refusal a request met once its work began, as recorded under its key and replayed byte for
 * byte (Stripe's rule: a request that started executing keeps its outcome, errors included), or
 * null when it is not recorded: a refusal of the request's own form (400, 413 — by its schema
 * before it starts, or by a service's check of a field; the key then stays free for a corrected
 * request), a conflict with a request running at the same time, an answer that asks for a retry
 * later (Retry-After), and every failure (5xx: the request may not have finished, and a retry with
 * the key resumes it).
 */
function recordedRefusal(error: unknown): StoredAnswer | null {
  const problem = toApiError(error);
  if (
    !problem ||
    !RECORDED_STATUSES.has(problem.status) ||
    CONCURRENT_CODES.has(problem.code) ||
    problem.extra.retryAfter !== undefined
  )
    return null;
  return { status: problem.status, text: canonicalJson(problemDocument(problem)) };
}

const isUniqueViolation = (error: unknown) => anyCause(error, (e) => sqlState(e) === "23505");

/**
 * Answers an operation that is one transaction, recorded under its Idempotency-Key in that same
 * transaction, so the effect and the key commit or roll back together. The key's row is written
 * first: a concurrent request with the key waits on it, then replays this answer (or is refused,
 * for another body) having done nothing. A replay sends the first answer's bytes. A refusal the
 * operation meets (recordedRefusal) is recorded too: the operation runs in a savepoint, so what it
 * wrote is undone and the key keeps the refusal.
 */
export async function respondIdempotent(
  { db }: { readonly db: Db },
  request: FastifyRequest,
  reply: FastifyReply,
  operation: (tx: Tx) => Promise<OperationResult>,
  onRefusal?: RefusalListener,
) {
  const key = idempotencyKeyOf(request);
  if (key === undefined) {
    const { status, body } = await db.transaction(operation);
    return reply.code(status).send(body);
  }
  const scope = scopeOf(request, key);
  const first = await storedAnswer(db, scope);
  if (first) return send(reply, first, true);
  try {
    const answer = await db.transaction(async (tx) => {
      await tx
        .insert(idempotencyKeys)
        .values({ apiKeyId: scope.apiKeyId, key, requestHash: scope.hash, statusCode: 0, response: {} });
      let recorded: StoredAnswer;
      try {
        recorded = await tx.transaction(async (work) => canonicalAnswer(reply, await operation(work)));
      } catch (error) {
        const refusal = recordedRefusal(error);
        if (!refusal) throw error;
        await onRefusal?.(tx, error);
        recorded = refusal;
      }
      await tx
        .update(idempotencyKeys)
        .set({ statusCode: recorded.status, response: sql`${recorded.text}::jsonb` })
        .where(keyRow(scope));
      return recorded;
    });
    return send(reply, answer, false);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const raced = await storedAnswer(db, scope);
    if (raced) return send(reply, raced, true);
    throw error;
  }
}

/**
 * A request whose work cannot share the key's transaction: it calls a payment gateway. `effect`
 * does that work; it must be safe to run again for the same request, and is told `resumed` when an
 * earlier run of this request ended without an answer (a crash, a 5xx, a 202). `answer`, when
 * given, builds the answer in the transaction that records it, so what it writes commits with the
 * record; without it, the effect's result is the answer.
 */
export interface ClaimedOperation<T> {
  effect(resumed: boolean): Promise<T>;
  answer?(tx: Tx, done: T): Promise<OperationResult>;
  onRefusal?: RefusalListener;
}

/**
 * Told of a refusal that is kept under the key (it is answered, not thrown, so the route never
 * sees it), in the transaction that keeps it: for the refusals someone must hear of (rules.md).
 */
export type RefusalListener = (db: Executor, error: unknown) => Promise<void>;

/**
 * Answers a request that moves money. With an Idempotency-Key, the key is claimed first — a
 * committed row holding the request's hash — so another body with the key is refused and the same
 * body told the key is in use, before either does anything; then the effect runs and its answer is
 * recorded. A 202 (not settled yet) is not recorded: the claim is left for a retry to resume and
 * answer what the request came to. A refusal the effect meets (a declined card, a stale quote) is
 * recorded as its answer (recordedRefusal); one of the request's form from the effect of a first
 * run leaves the key free for a corrected request. A refusal from `answer` (the effect stands, the
 * request is not finished: a payment awaiting 3-D Secure) or a failure (5xx) leaves the claim for
 * a retry to resume at once.
 */
export async function respondClaimed<T>(
  ctx: { readonly db: Db; readonly clock: () => Date },
  request: FastifyRequest,
  reply: FastifyReply,
  operation: ClaimedOperation<T>,
) {
  const { db } = ctx;
  const key = idempotencyKeyOf(request);
  if (key === undefined) {
    const done = await operation.effect(false);
    const build = operation.answer;
    const { status, body } = build
      ? await db.transaction((tx) => build(tx, done))
      : (done as OperationResult);
    return reply.code(status).send(body);
  }
  const scope = scopeOf(request, key);
  const claim = await claimKey(db, scope, ctx.clock());
  if ("stored" in claim) return send(reply, claim.stored, true);
  const leave = async (how: "released" | "resumable") => {
    try {
      if (how === "released") await db.delete(idempotencyKeys).where(heldBy(scope, claim.token));
      else
        await db
          .update(idempotencyKeys)
          .set({ response: { claim: claim.token, until: 0 } satisfies Lease })
          .where(heldBy(scope, claim.token));
    } catch {
      // the database is gone too: the lease runs out by itself
    }
  };
  let done: T;
  try {
    done = await operation.effect(claim.resumed);
  } catch (error) {
    const refusal = recordedRefusal(error);
    if (refusal) {
      let recorded: boolean;
      try {
        await operation.onRefusal?.(db, error);
        recorded = await recordHeld(db, scope, claim.token, refusal);
      } catch (failure) {
        await leave("resumable");
        throw failure;
      }
      if (recorded) return send(reply, refusal, false);
      return replayResumed(db, scope, reply);
    }
    // Refused for its form before it did anything that stands: the key is free for a corrected
    // request. A resumed run keeps it: the run before it may have done something.
    const refused = (toApiError(error)?.status ?? 500) < 500;
    await leave(refused && !claim.resumed ? "released" : "resumable");
    throw error;
  }
  let answer: StoredAnswer | null;
  try {
    answer = await answerAndRecord(db, scope, claim.token, reply, operation, done);
  } catch (error) {
    await leave("resumable");
    throw error;
  }
  if (answer === null) return replayResumed(db, scope, reply);
  if (answer.status === 202) await leave("resumable");
  return send(reply, answer, false);
}

/** A retry resumed this request meanwhile (our lease ran out): its answer, once recorded. */
async function replayResumed(db: Db, scope: KeyScope, reply: FastifyReply) {
  const stored = await storedAnswer(db, scope);
  if (!stored) throw keyInUse();
  return send(reply, stored, true);
}

/** Records `answer` under the key while this claim holds it; false when the claim was taken over. */
async function recordHeld(db: Db | Tx, scope: KeyScope, token: string, answer: StoredAnswer) {
  const recorded = await db
    .update(idempotencyKeys)
    .set({ statusCode: answer.status, response: sql`${answer.text}::jsonb` })
    .where(heldBy(scope, token))
    .returning({ key: idempotencyKeys.key });
  return recorded.length > 0;
}

async function answerAndRecord<T>(
  db: Db,
  scope: KeyScope,
  token: string,
  reply: FastifyReply,
  operation: ClaimedOperation<T>,
  done: T,
): Promise<StoredAnswer | null> {
  const record = async (tx: Db | Tx, answer: StoredAnswer) =>
    answer.status === 202 || (await recordHeld(tx, scope, token, answer));
  const { answer: build } = operation;
  if (!build) {
    const answer = canonicalAnswer(reply, done as OperationResult);
    return (await record(db, answer)) ? answer : null;
  }
  return db.transaction(async (tx) => {
    // held under lock, so a retry that resumed the request cannot answer it at the same time
    const [held] = await tx.select().from(idempotencyKeys).where(heldBy(scope, token)).for("update");
    if (!held) return null;
    const answer = canonicalAnswer(reply, await build(tx, done));
    await record(tx, answer);
    return answer;
  });
}

/**
 * Claims the key for this request: a committed row with its hash and a lease. Answers the recorded
 * answer when the request already finished; refuses another body (422) and a run still in progress
 * (409); takes over a claim whose lease ran out (`resumed`), one retry only.
 */
async function claimKey(
  db: Db,
  scope: KeyScope,
  now: Date,
): Promise<{ stored: StoredAnswer } | { token: string; resumed: boolean }> {
  const token = randomUUID();
  const lease: Lease = { claim: token, until: now.getTime() + CLAIM_LEASE_MS };
  for (let attempt = 1; ; attempt++) {
    const [inserted] = await db
      .insert(idempotencyKeys)
      .values({
        apiKeyId: scope.apiKeyId,
        key: scope.key,
        requestHash: scope.hash,
        statusCode: 0,
        response: lease,
      })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (inserted) return { token, resumed: false };
    const state = await keyState(db, scope);
    // released between the two statements: claim it again
    if (!state) {
      if (attempt < 3) continue;
      throw keyInUse();
    }
    if ("answer" in state) return { stored: state.answer };
    if (state.lease.until > now.getTime()) throw keyInUse();
    const [taken] = await db
      .update(idempotencyKeys)
      .set({ response: lease })
      .where(heldBy(scope, state.lease.claim))
      .returning({ key: idempotencyKeys.key });
    if (!taken) throw keyInUse();
    return { token, resumed: true };
  }
}

export async function pruneIdempotencyKeys(db: Db, now: Date): Promise<void> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_RETENTION_DAYS * 86_400_000);
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, cutoff));
}
