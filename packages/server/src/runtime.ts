import type { Config } from "./config.ts";
import { type Database, openDatabase } from "./db/client.ts";

/** Opens the configured database (PostgreSQL when DATABASE_URL is set, else PGlite) and migrates it. */
export async function openMigratedDatabase(config: Config): Promise<Database> {
  const database = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.UPTIER_DATA_DIR,
    connectionTimeoutMs: config.UPTIER_DB_CONNECTION_TIMEOUT,
  });
  await database.migrate();
  return database;
}
