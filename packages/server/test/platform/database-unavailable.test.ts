import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { type Database, DatabaseUnavailableError, isConnectionLost } from "../../src/db/client.ts";
import { openMigratedDatabase } from "../../src/runtime.ts";
import { adminQuery, POSTGRES_URL, TEST_ENGINE } from "../support/harness.ts";
import { useMeteringApi } from "../support/metering-harness.ts";

/**
 * PostgreSQL only: a pool hands out connections, and when every one is held (last week: each held
 * by a transaction waiting for a second one) a request must fail in bounded time instead of
 * waiting for ever. PGlite has one in-process connection and no pool to wait on.
 */
const TIMEOUT_MS = 500;

/** The promise's value, or a failure after `ms` (a request waiting for ever would never settle). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer in ${ms} ms: it waits on the pool`)), ms).unref(),
    ),
  ]);
}

/** Runs `run` while a transaction holds `count` connections of the database's pool. */
async function whileHeld<T>(database: Database, count: number, run: () => Promise<T>): Promise<T> {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const entered: Promise<void>[] = [];
  const holders = Array.from({ length: count }, () => {
    let enter = () => {};
    entered.push(
      new Promise<void>((resolve) => {
        enter = resolve;
      }),
    );
    return database.db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      enter();
      await released;
    });
  });
  await Promise.all(entered);
  try {
    return await run();
  } finally {
    release();
    await Promise.all(holders);
  }
}

describe.runIf(TEST_ENGINE === "postgres")(
  "a request when no pool connection comes free (PostgreSQL, pool of one)",
  () => {
    const api = useMeteringApi({ poolSize: 1, connectionTimeoutMs: TIMEOUT_MS });

    /** The request, timed, while the pool's only connection is held by a transaction. */
    async function heldRequest(method: "GET" | "POST", url: string, body?: unknown) {
      // a fresh request first, so the API key is cached and the route itself meets the held pool
      expect((await api.request("GET", "/v1/accounts?limit=1")).statusCode).toBe(200);
      return whileHeld(api.database, 1, async () => {
        const started = performance.now();
        const res = await within(api.request(method, url, body), TIMEOUT_MS + 5_000);
        return { res, ms: performance.now() - started };
      });
    }

    it("a read answers 503 database_unavailable with Retry-After once the timeout has passed, then 200 again", async () => {
      const { account } = await api.accountOn("free");
      const { res, ms } = await heldRequest("GET", `/v1/accounts/${account}`);
      expect(res.statusCode).toBe(503);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.headers["retry-after"]).toBe("2");
      expect(res.json()).toMatchObject({ status: 503, code: "database_unavailable" });
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect((await api.request("GET", `/v1/accounts/${account}`)).statusCode).toBe(200);
    });

    it("a write's transaction answers 503 and did nothing: sent again, it is done once", async () => {
      const external = `org_${randomBytes(5).toString("hex")}`;
      const body = { external_id: external, name: external };
      const { res, ms } = await heldRequest("POST", "/v1/accounts", body);
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: "database_unavailable" });
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      // no account was created: the retry creates it (a second one would be 409 account_exists)
      const retry = await api.request("POST", "/v1/accounts", body);
      expect(retry.statusCode).toBe(201);
      expect((await api.request("POST", "/v1/accounts", body)).json()).toMatchObject({
        code: "account_exists",
      });
    });

    it("with an Idempotency-Key, the 503 is not recorded under the key: the retry runs the request", async () => {
      const external = `org_${randomBytes(5).toString("hex")}`;
      const key = `key_${randomBytes(5).toString("hex")}`;
      const body = { external_id: external, name: external };
      await api.request("GET", "/v1/accounts?limit=1");
      const held = await whileHeld(api.database, 1, () =>
        within(api.request("POST", "/v1/accounts", body, { "idempotency-key": key }), TIMEOUT_MS + 5_000),
      );
      expect(held.statusCode).toBe(503);
      const retry = await api.request("POST", "/v1/accounts", body, { "idempotency-key": key });
      expect(retry.statusCode).toBe(201);
      expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    });
  },
);

describe.runIf(TEST_ENGINE === "postgres")("UPTIER_DB_CONNECTION_TIMEOUT (PostgreSQL)", () => {
  const name = `uptier_test_${randomBytes(6).toString("hex")}`;
  let database: Database;
  beforeAll(async () => {
    await adminQuery(`create database ${name}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    // as `uptier start` opens it: from the environment, with the default pool
    database = await openMigratedDatabase(
      loadConfig({ DATABASE_URL: url.toString(), UPTIER_DB_CONNECTION_TIMEOUT: `${TIMEOUT_MS}ms` }),
    );
  });
  afterAll(async () => {
    await database?.close();
    await adminQuery(`drop database if exists ${name} with (force)`);
  });

  it("bounds the wait for a connection when the whole pool is held", async () => {
    const error = await whileHeld(database, 10, async () => {
      const started = performance.now();
      const failure = await within(
        database.db.execute(sql`select 1`).then(
          () => null,
          (e: unknown) => e,
        ),
        TIMEOUT_MS + 5_000,
      );
      expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      return failure;
    });
    // drizzle wraps the pool's failure
    expect((error as { cause?: unknown }).cause).toBeInstanceOf(DatabaseUnavailableError);
    await expect(database.db.transaction(async (tx) => tx.execute(sql`select 1`))).resolves.toBeDefined();
  });
});

/**
 * Runs `run` while `table` is locked by another session, so a request touching it waits on the
 * lock; `terminateWaiter` ends the waiting server session as an operator's pg_terminate_backend (or
 * a failover) would, and resolves once it is gone.
 */
async function whileLocked<T>(
  database: Database,
  table: string,
  run: (terminateWaiter: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const { rows } = await database.executeSql("select current_database() as name");
  const name = String(rows[0]?.name);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const locker = new pg.Client({ connectionString: url.toString() });
  await locker.connect();
  try {
    await locker.query("begin");
    await locker.query(`lock table ${table} in access exclusive mode`);
    const terminateWaiter = async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const { rows } = await locker.query(
          `select pg_terminate_backend(pid) as ended from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`,
        );
        if (rows.length > 0) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error("no session ever waited on the lock");
    };
    return await run(terminateWaiter);
  } finally {
    await locker.query("rollback");
    await locker.end();
  }
}

describe.runIf(TEST_ENGINE === "postgres")(
  "a request whose database connection is lost while it runs (PostgreSQL)",
  () => {
    const api = useMeteringApi({ poolSize: 2 });

    it("a read answers 503 database_unavailable with Retry-After, and the next one is served", async () => {
      const { account } = await api.accountOn("free");
      const res = await whileLocked(api.database, "accounts", async (terminateWaiter) => {
        const pending = api.request("GET", `/v1/accounts/${account}`);
        await terminateWaiter();
        return pending;
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.headers["retry-after"]).toBe("2");
      expect(res.json()).toMatchObject({ status: 503, code: "database_unavailable" });
      expect(res.json().detail).toMatch(/connection to the database was lost/);
      // the pool dropped the dead connection: the same request is served at once
      expect((await api.request("GET", `/v1/accounts/${account}`)).statusCode).toBe(200);
    });

    it("a write's transaction answers 503 and is rolled back: the retry with its key does it once", async () => {
      const external = `org_${randomBytes(5).toString("hex")}`;
      const key = `key_${randomBytes(5).toString("hex")}`;
      const body = { external_id: external, name: external };
      await api.request("GET", "/v1/accounts?limit=1");
      const lost = await whileLocked(api.database, "accounts", async (terminateWaiter) => {
        const pending = api.request("POST", "/v1/accounts", body, { "idempotency-key": key });
        await terminateWaiter();
        return pending;
      });
      expect(lost.statusCode).toBe(503);
      expect(lost.json()).toMatchObject({ code: "database_unavailable" });
      const retry = await api.request("POST", "/v1/accounts", body, { "idempotency-key": key });
      expect(retry.statusCode).toBe(201);
      expect(retry.headers["idempotent-replayed"]).toBeUndefined();
      const again = await api.request("POST", "/v1/accounts", body, { "idempotency-key": key });
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.json()).toEqual(retry.json());
      const stored = await api.database.executeSql(
        "select count(*)::int as n from accounts where external_id = $1",
        [external],
      );
      expect(stored.rows).toEqual([{ n: 1 }]);
    });

    it("after every pooled session is ended (a database restart), requests are served again", async () => {
      const { account } = await api.accountOn("free");
      await api.database.db.execute(
        sql`select pg_terminate_backend(pid) from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid()`,
      );
      // the connection that ran the statement above is ended with the others
      const ownEnd = await api.database.db.execute(sql`select pg_terminate_backend(pg_backend_pid())`).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConnectionLost(ownEnd)).toBe(true);
      const answers = [];
      for (let i = 0; i < 4; i++)
        answers.push((await api.request("GET", `/v1/accounts/${account}`)).statusCode);
      // a request may still meet a dead connection before the pool has noticed: 503, never 500
      expect(answers.every((status) => status === 200 || status === 503)).toBe(true);
      expect(answers.at(-1)).toBe(200);
    });
  },
);
