import { and, eq, inArray, isNull } from "drizzle-orm";
import type { FastifyRequest } from "fastify";
import type { Db } from "../../db/client.ts";
import { apiKeys } from "../../db/schema/index.ts";
import { hashKey, onKeyRevoked } from "../../services/accounts/api-keys.ts";
import { ApiError } from "../problem.ts";

export interface Caller {
  readonly apiKeyId: string;
}

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller;
  }
}

/**
 * Valid keys are remembered briefly, so a request costs no database round trip for its key. A
 * revocation in this process takes effect at once (forgetApiKey); one made elsewhere (the CLI,
 * another node) within KEY_CACHE_TTL_MS. Unknown and revoked keys are never cached.
 *
 * The cache is keyed by the raw Authorization header of a request that was accepted, so a cached
 * request costs one Map lookup: no parsing and no hashing (the hash is taken only on a miss).
 */
export const KEY_CACHE_TTL_MS = 5_000;
const keyCache = new Map<string, { db: Db; id: string; caller: Caller; until: number }>();

/** On revocation: the next request with the key is refused, and its open streams end. */
function forgetApiKey(id: string): void {
  for (const [header, entry] of keyCache) if (entry.id === id) keyCache.delete(header);
  for (const watch of watches) if (watch.keyId === id) endWatch(watch);
}

onKeyRevoked(forgetApiKey);

/**
 * A response that outlives its request's authentication (the SSE stream) ends when its key is
 * revoked, within the bound a plain request with that key is refused in: at once for a revocation
 * in this process, within KEY_CACHE_TTL_MS for one made elsewhere, which a sweep of the open
 * streams' keys (one query for them all) notices.
 */
interface KeyWatch {
  readonly db: Db;
  readonly keyId: string;
  readonly revoked: () => void;
}
const watches = new Set<KeyWatch>();
let sweeper: NodeJS.Timeout | undefined;

function unwatch(watch: KeyWatch): boolean {
  if (!watches.delete(watch)) return false;
  if (watches.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
  return true;
}

function endWatch(watch: KeyWatch): void {
  if (unwatch(watch)) watch.revoked();
}

/** Calls `revoked` once the caller's key is revoked; the answer stops watching. */
export function watchRevocation(db: Db, caller: Caller, revoked: () => void): () => void {
  const watch: KeyWatch = { db, keyId: caller.apiKeyId, revoked };
  watches.add(watch);
  if (!sweeper) {
    // twice per cache lifetime, so a stream never outlives a cached key
    sweeper = setInterval(() => void sweepRevoked(), KEY_CACHE_TTL_MS / 2);
    sweeper.unref();
  }
  return () => {
    unwatch(watch);
  };
}

async function sweepRevoked(): Promise<void> {
  const byDb = new Map<Db, KeyWatch[]>();
  for (const watch of watches) byDb.set(watch.db, [...(byDb.get(watch.db) ?? []), watch]);
  for (const [db, open] of byDb) {
    let valid: Set<string>;
    try {
      const ids = [...new Set(open.map((w) => w.keyId))];
      const rows = await db
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(inArray(apiKeys.id, ids), isNull(apiKeys.revokedAt)));
      valid = new Set(rows.map((r) => r.id));
    } catch {
      continue; // the database is unreachable: nothing is known revoked
    }
    for (const watch of open) if (!valid.has(watch.keyId)) endWatch(watch);
  }
}

/** The secret from `Bearer sk_…`, or from HTTP Basic with the key as the user name (Segment's write-key habit). */
function secretOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = header.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (bearer) return bearer;
  const basic = header.match(/^Basic\s+([A-Za-z0-9+/=]+)$/i)?.[1];
  if (!basic) return undefined;
  const decoded = Buffer.from(basic, "base64").toString("utf8");
  const user = decoded.includes(":") ? decoded.slice(0, decoded.indexOf(":")) : decoded;
  return user || undefined;
}

/** The caller of a request whose key is in the cache (no await), or undefined: then call authenticate. */
export function cachedCaller(db: Db, request: FastifyRequest): Caller | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const cached = keyCache.get(header);
  return cached !== undefined && cached.db === db && cached.until > Date.now() ? cached.caller : undefined;
}

/** Resolves `Authorization: Bearer sk_…` to the key's id; a missing, unknown or revoked key is a 401. */
export async function authenticate(db: Db, request: FastifyRequest): Promise<Caller> {
  const cached = cachedCaller(db, request);
  if (cached !== undefined) return cached;
  const header = request.headers.authorization;
  const now = Date.now();
  const secret = secretOf(header);
  if (!secret)
    throw new ApiError(401, "missing_api_key", "Send your secret key as `Authorization: Bearer sk_…`.");
  if (!secret.startsWith("sk_"))
    throw new ApiError(401, "invalid_api_key", "That is not a secret key: secret keys start with sk_.");
  const hash = hashKey(secret);
  const [key] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, hash), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!key) {
    if (header !== undefined) keyCache.delete(header);
    throw new ApiError(401, "invalid_api_key", "The API key is unknown or has been revoked.");
  }
  if (keyCache.size > 10_000) keyCache.clear();
  const caller: Caller = Object.freeze({ apiKeyId: key.id });
  if (header !== undefined) keyCache.set(header, { db, id: key.id, caller, until: now + KEY_CACHE_TTL_MS });
  return caller;
}
