import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiKeys } from "../db/schema/index.ts";
import { hashKey } from "../http/auth.ts";
import { createSecretKey } from "../services/keys.ts";

/**
 * The demo's secret key. Keys are stored hashed, so the demo keeps its one plaintext copy in a
 * file beside the data directory (mode 0600) to print it on every start.
 */
export async function ensureDemoKey(db: Db, dataDir: string, now: Date): Promise<string> {
  const file = join(dirname(dataDir), "demo-secret-key");
  const saved = await readFile(file, "utf8").then(
    (s) => s.trim(),
    () => null,
  );
  if (saved) {
    const [live] = await db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.hash, hashKey(saved)), isNull(apiKeys.revokedAt)));
    if (live) return saved;
  }
  const key = await createSecretKey(db, "demo", now);
  await writeFile(file, `${key.secret}\n`, { mode: 0o600 });
  return key.secret;
}
