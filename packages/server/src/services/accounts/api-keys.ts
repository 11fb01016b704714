import { createHash, randomBytes } from "node:crypto";
import { desc, eq } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { apiKeys } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";

/** Keys are stored as their SHA-256: a leaked table holds no usable key. */
export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

const revocationListeners = new Set<(keyId: string) => void>();

/** Called with a key's id when it is revoked in this process (the HTTP layer drops its cached caller). */
export function onKeyRevoked(listener: (keyId: string) => void): void {
  revocationListeners.add(listener);
}

/** A new secret key's plaintext: "sk_" and 24 random bytes. */
export const newSecret = () => `sk_${randomBytes(24).toString("base64url")}`;

/** Creates a secret key (a new one unless given). The key is returned once and only its hash is stored. */
export async function createSecretKey(db: Executor, name: string, at: Date, secret = newSecret()) {
  const id = newId("apiKey", at);
  await db
    .insert(apiKeys)
    .values({ id, name, prefix: secret.slice(0, 10), hash: hashKey(secret), createdAt: at });
  return { id, name, secret };
}

export async function listKeys(db: Executor) {
  return db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      prefix: apiKeys.prefix,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .orderBy(desc(apiKeys.id));
}

export async function revokeKey(db: Executor, id: string, at: Date): Promise<boolean> {
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: at })
    .where(eq(apiKeys.id, id))
    .returning({ id: apiKeys.id });
  for (const listener of revocationListeners) listener(id);
  return revoked.length > 0;
}
