import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiKeys } from "../db/schema/index.ts";
import { createSecretKey, hashKey, newSecret } from "../services/accounts/api-keys.ts";

export interface DemoKey {
  readonly secret: string;
  readonly file: string;
  /** why the key could not be kept in `file` (it is then shown only this once); null when it is */
  readonly unsaved: string | null;
}

/**
 * The demo's secret key. Keys are stored hashed, so the demo keeps its one plaintext copy in a
 * file beside the data directory (mode 0600) to print it on every start. The file is written
 * before the key is stored, so a key in the database always has its plaintext somewhere: in the
 * file, or on the screen when the file cannot be written. A key in the file that this database
 * has never seen (a new database, or a start that stopped between the two) is stored again; one
 * revoked here is replaced.
 */
export async function ensureDemoKey(db: Db, dataDir: string, now: Date): Promise<DemoKey> {
  const file = join(dirname(dataDir), "demo-secret-key");
  const saved = await readFile(file, "utf8").then(
    (s) => s.trim(),
    () => "",
  );
  if (/^sk_[\w-]+$/.test(saved)) {
    const [row] = await db
      .select({ revokedAt: apiKeys.revokedAt })
      .from(apiKeys)
      .where(eq(apiKeys.hash, hashKey(saved)));
    if (row && row.revokedAt === null) return { secret: saved, file, unsaved: null };
    if (!row) {
      await createSecretKey(db, "demo", now, saved);
      return { secret: saved, file, unsaved: null };
    }
  }
  const secret = newSecret();
  const unsaved = await writeSecretFile(file, secret).then(
    () => null,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  await createSecretKey(db, "demo", now, secret);
  return { secret, file, unsaved };
}

/** Writes the file whole or not at all (a temporary file renamed over it), readable by its owner only. */
async function writeSecretFile(file: string, secret: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${secret}\n`, { mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
