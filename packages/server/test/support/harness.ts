import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { buildApp } from "../../src/app.ts";
import { readCatalogFile } from "../../src/catalog-file.ts";
import { type Database, type Db, openDatabase } from "../../src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { applyCatalog } from "../../src/services/catalog/apply.ts";

/**
 * One API test suite, two databases (drizzle-orm's habit): UPTIER_TEST_DB=postgres runs every
 * server test on PostgreSQL (TEST_DATABASE_URL, default the local server's `test` database), each
 * test file in a database of its own that is dropped afterwards; otherwise on in-memory PGlite.
 */
export const TEST_ENGINE = process.env.UPTIER_TEST_DB === "postgres" ? "postgres" : "pglite";
export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestClock {
  now: Date;
  (): Date;
  set(iso: string): void;
  advance(ms: number): void;
}

export function testClock(iso = "2026-01-16T12:00:00Z"): TestClock {
  const clock = (() => new Date(clock.now.getTime())) as TestClock;
  clock.now = new Date(iso);
  clock.set = (value) => {
    clock.now = new Date(value);
  };
  clock.advance = (ms) => {
    clock.now = new Date(clock.now.getTime() + ms);
  };
  return clock;
}

export async function openTestDatabase(
  options: { poolSize?: number; connectionTimeoutMs?: number } = {},
): Promise<Database & { dropDatabase(): Promise<void> }> {
  if (TEST_ENGINE === "pglite") {
    const database = await openDatabase({ dataDir: "memory://" });
    await database.migrate();
    return { ...database, dropDatabase: async () => {} };
  }
  const created = await createPostgresDatabase();
  const database = await openDatabase({
    databaseUrl: created.url,
    dataDir: "",
    poolSize: options.poolSize ?? 10,
    connectionTimeoutMs: options.connectionTimeoutMs,
  });
  await database.migrate();
  return { ...database, dropDatabase: created.drop };
}

/** An empty PostgreSQL database of the test's own on the test server, and how to drop it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `uptier_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(`drop database if exists ${name} with (force)`) };
}

/** Applies the demo catalog as of `at`, reshaped by `edit` when a test needs another policy or price. */
export async function applyDemoCatalog(
  db: Db,
  at: Date,
  edit?: (doc: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const file = await readCatalogFile(DEMO_CATALOG_FILE);
  if (!file.ok) throw new Error("the demo catalog is invalid");
  const catalog = edit
    ? (edit(
        file.validation.catalog as unknown as Record<string, unknown>,
      ) as unknown as typeof file.validation.catalog)
    : file.validation.catalog;
  await db.transaction((tx) => applyCatalog(tx, catalog, at));
}

/** TestApi.request for an app and its key, read when a request is sent (both are made in beforeAll). */
export function authenticatedRequests(api: { readonly app: FastifyInstance; readonly secret: string }) {
  const request: TestApi["request"] = async (method, url, body, headers = {}) => {
    const options: InjectOptions = {
      method,
      url,
      headers: { authorization: `Bearer ${api.secret}`, ...headers },
    };
    if (body !== undefined) options.payload = body as InjectOptions["payload"];
    return api.app.inject(options);
  };
  return request;
}

/** A statement on the PostgreSQL server's maintenance database (create or drop a test database). */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export interface TestApi {
  readonly app: FastifyInstance;
  readonly database: Database;
  readonly clock: TestClock;
  readonly secret: string;
  /** an authenticated JSON request */
  request(
    method: InjectOptions["method"],
    url: string,
    body?: unknown,
    /** an array sends the header once per value */
    headers?: Record<string, string | string[]>,
  ): Promise<LightMyRequestResponse>;
}

/** Starts the API on a fresh database with the demo catalog applied and a secret key. */
export function useTestApi(options: { catalog?: boolean } = {}): TestApi {
  const api = {} as { -readonly [K in keyof TestApi]: TestApi[K] };
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase();
    api.database = database;
    api.clock = testClock();
    if (options.catalog !== false) await applyDemoCatalog(database.db, api.clock());
    api.secret = (await createSecretKey(database.db, "test", api.clock())).secret;
    api.app = await buildApp({ db: database.db, clock: api.clock, logLevel: "silent" });
    api.request = authenticatedRequests(api);
  });
  afterAll(async () => {
    await api.app?.close();
    await database?.close();
    await database?.dropDatabase();
  });
  return api;
}

/** Creates an account with a subscription, returning both ids. */
export async function accountOnPlan(
  api: TestApi,
  plan: string,
  extra: { seats?: number; interval?: "month" | "year"; add_ons?: { key: string; quantity?: number }[] } = {},
) {
  const externalId = `ext_${randomBytes(5).toString("hex")}`;
  const account = (
    await api.request("POST", "/v1/accounts", { external_id: externalId, name: `Customer ${externalId}` })
  ).json();
  const subscription = await api.request("POST", "/v1/subscriptions", {
    account: account.id,
    plan,
    ...extra,
  });
  if (subscription.statusCode !== 201) throw new Error(`subscription failed: ${subscription.body}`);
  return { account: account.id as string, subscription: subscription.json().id as string };
}

/**
 * Every table's row count and a hash of its rows, so a test can show a request changed nothing:
 * equal snapshots before and after.
 */
export async function tableSnapshot(database: Database): Promise<Record<string, string>> {
  const tables = (
    (await database.db.execute(
      sql`select table_schema as schema, table_name as name from information_schema.tables
          where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
          order by 1, 2`,
    )) as unknown as { rows: { schema: string; name: string }[] }
  ).rows;
  const snapshot: Record<string, string> = {};
  for (const { schema, name } of tables) {
    const table = sql.raw(`"${schema}"."${name}"`);
    const [row] = (
      (await database.db.execute(
        sql`select count(*)::int as rows, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as hash
            from ${table} t`,
      )) as unknown as { rows: { rows: number; hash: string }[] }
    ).rows;
    snapshot[`${schema}.${name}`] = `${row?.rows} rows, ${row?.hash}`;
  }
  return snapshot;
}
