import { createHash } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { FastifyRequest } from "fastify";
import type { Db } from "../db/client.ts";
import { apiKeys } from "../db/schema/index.ts";
import { ApiError } from "./problem.ts";

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

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

/** Drops a key from the cache (on revocation), so the next request with it is refused. */
export function forgetApiKey(id: string): void {
  for (const [header, entry] of keyCache) if (entry.id === id) keyCache.delete(header);
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
