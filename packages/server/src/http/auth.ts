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

/** Resolves `Authorization: Bearer sk_…` to the key's id; a missing, unknown or revoked key is a 401. */
export async function authenticate(db: Db, request: FastifyRequest): Promise<Caller> {
  const header = request.headers.authorization;
  const secret = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!secret)
    throw new ApiError(401, "missing_api_key", "Send your secret key as `Authorization: Bearer sk_…`.");
  if (!secret.startsWith("sk_"))
    throw new ApiError(401, "invalid_api_key", "That is not a secret key: secret keys start with sk_.");
  const [key] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, hashKey(secret)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!key) throw new ApiError(401, "invalid_api_key", "The API key is unknown or has been revoked.");
  return { apiKeyId: key.id };
}
