import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { anyCause, sqlState } from "../lib/error-causes.ts";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
/** The database, whichever engine is underneath: code above this file never knows which. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a query can run on: the database or an open transaction. */
export type Executor = Db | Tx;

export function isTransaction(db: Executor): db is Tx {
  return "rollback" in db;
}

export interface Database {
  readonly db: Db;
  readonly engine: "pglite" | "postgres";
  /** Runs the committed SQL migrations; safe to call on every start. */
  migrate(): Promise<void>;
  /**
   * Raw SQL on the same connection(s), for the job queue (pg-boss's `db.executeSql` contract): a
   * text without values may hold several statements; the rows are the last statement's.
   */
  executeSql(text: string, values?: unknown[]): Promise<SqlResult>;
  close(): Promise<void>;
}

export interface SqlResult {
  rows: Record<string, unknown>[];
}

const migrationsFolder = fileURLToPath(new URL("../../migrations", import.meta.url));

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent, the embedded PGlite database is used. */
  readonly databaseUrl?: string | undefined;
  /** PGlite data directory; "memory://" keeps it in memory (tests). */
  readonly dataDir: string;
  readonly poolSize?: number;
  /**
   * PostgreSQL: how long a query or transaction waits for a connection (a free one from the pool,
   * or a new one) before it fails with DatabaseUnavailableError (default 10 s).
   */
  readonly connectionTimeoutMs?: number;
}

export const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;

/**
 * No database connection could be had: none came free in the pool in time, or the server could
 * not be reached. The statement or transaction that asked never ran, so it may be retried (the
 * API answers 503 `database_unavailable`).
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = "DatabaseUnavailableError";
}

/**
 * SQLSTATEs saying the session itself is gone (class 08, connection exception) or was ended by
 * the server (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now): the statement
 * did not fail on its own merits, and the same request may succeed on another connection.
 */
const SESSION_ENDED = /^(08...|57P0[123])$/;
/** What node-postgres itself throws when the socket closes under a query (it has no SQLSTATE). */
const SOCKET_CLOSED = /^Connection terminated|^Client has encountered a connection error/;

/**
 * True when an error, or any error in its cause chain (drizzle wraps the driver's), says the
 * database connection was lost while a statement ran. Nothing of an open transaction was
 * committed, except when the loss came during COMMIT itself, whose outcome is then unknown: a
 * retry with the same Idempotency-Key is answered once either way (the key commits with the effect).
 */
export function isConnectionLost(error: unknown): boolean {
  return anyCause(error, (e) => {
    const message = (e as { message?: unknown }).message;
    return (
      SESSION_ENDED.test(sqlState(e) ?? "") || (typeof message === "string" && SOCKET_CLOSED.test(message))
    );
  });
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

const unavailable = (cause: Error) =>
  new DatabaseUnavailableError(`No database connection: ${cause.message}`, { cause });

/**
 * A pool whose failures to hand out a connection are told apart from a query's failure: pg-pool
 * reports them as plain Errors (only a message), but they alone mean "nothing ran, try later".
 * pool.query and drizzle's transactions both go through connect().
 */
class Pool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (callback) {
      super.connect((err, client, done) => callback(err ? unavailable(err) : undefined, client, done));
      return undefined;
    }
    return super.connect().catch((err: Error) => {
      throw unavailable(err);
    });
  }
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      // Without it a request waits for a free connection for ever: when every connection is held
      // (a transaction waiting for a second one, a stuck query) the whole process hangs.
      connectionTimeoutMillis: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    });
    // A connection's end (a server restart, pg_terminate_backend) is emitted as an 'error' event:
    // the pool listens while a client is idle, nobody while it is checked out, and an unheard
    // 'error' crashes the process. The statement running on it fails anyway (isConnectionLost),
    // and the pool drops the dead client when it comes back.
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    const db = drizzlePg({ client: pool, schema }) as unknown as Db;
    return {
      db,
      engine: "postgres",
      migrate: () => migratePg(db as never, { migrationsFolder }),
      executeSql: async (text, values) => {
        // several statements in one text answer an array of results
        const result = (await pool.query(text, values)) as pg.QueryResult | pg.QueryResult[];
        return Array.isArray(result) ? { rows: result.at(-1)?.rows ?? [] } : result;
      },
      close: () => pool.end(),
    };
  }
  if (!options.dataDir.startsWith("memory://")) mkdirSync(options.dataDir, { recursive: true });
  const client = await PGlite.create(options.dataDir);
  const db = drizzlePglite({ client, schema }) as unknown as Db;
  return {
    db,
    engine: "pglite",
    migrate: () => migratePglite(db as never, { migrationsFolder }),
    // PGlite's `query` takes one statement (with parameters), `exec` several (without)
    executeSql: async (text, values) => {
      if (values && values.length > 0) return client.query<Record<string, unknown>>(text, values);
      const results = await client.exec(text);
      return { rows: (results.at(-1)?.rows ?? []) as Record<string, unknown>[] };
    },
    close: () => client.close(),
  };
}

/**
 * Raw SQL with positional parameters inside an open transaction (pg-boss's `db` option, so a job is
 * queued in the transaction that decides it). Drizzle has no public handle on a transaction's
 * connection; its sessions keep it as `client` (a pg PoolClient, or PGlite's transaction), and
 * both answer `query(text, values)`. Tested on both engines (test/platform/transaction-sql.test.ts).
 */
export function sqlExecutorOf(tx: Tx): Pick<Database, "executeSql"> {
  const client = (tx as unknown as { session?: { client?: unknown } }).session?.client as
    | { query(text: string, values?: unknown[]): Promise<SqlResult> }
    | undefined;
  if (!client || typeof client.query !== "function")
    throw new Error("this transaction exposes no connection to run raw SQL on");
  return { executeSql: (text, values) => client.query(text, values) };
}
