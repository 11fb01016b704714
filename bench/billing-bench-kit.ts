/**
 * Shared set-up of the billing benchmarks: a fresh PostgreSQL database for the run (dropped after),
 * the demo catalog, a key, the API listening on 127.0.0.1, and autocannon in a child process so the
 * load generator does not share the server's event loop.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../packages/server/src/app.ts";
import { readCatalogFile } from "../packages/server/src/catalog-file.ts";
import { type Database, openDatabase } from "../packages/server/src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../packages/server/src/demo/catalog-file.ts";
import { gatewaySet } from "../packages/server/src/gateways/gateway.ts";
import { SandboxGateway } from "../packages/server/src/gateways/sandbox.ts";
import { applyCatalog } from "../packages/server/src/services/catalog.ts";
import { createSecretKey } from "../packages/server/src/services/keys.ts";

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AUTOCANNON = fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url));

async function admin(text: string) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

// biome-ignore lint/suspicious/noExplicitAny: the JSON answers of the API under load, read loosely
type Json = any;

export interface BenchServer {
  readonly database: Database;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly secret: string;
  readonly sandbox: SandboxGateway;
  request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: () => Promise<Json> }>;
  close(): Promise<void>;
}

export async function startBenchServer(poolSize = 20): Promise<BenchServer> {
  const name = `uptier_bench_${randomBytes(5).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: "", poolSize });
  await database.migrate();
  const file = await readCatalogFile(DEMO_CATALOG_FILE);
  if (!file.ok) throw new Error("demo catalog invalid");
  await database.db.transaction((tx) => applyCatalog(tx, file.validation.catalog, new Date()));
  const secret = (await createSecretKey(database.db, "bench", new Date())).secret;
  const sandbox = new SandboxGateway();
  const app = await buildApp({ db: database.db, logLevel: "silent", gateways: gatewaySet(sandbox) });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    database,
    app,
    url: base,
    secret,
    sandbox,
    request: async (method, path, body) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: () => response.json() as Promise<Json> };
    },
    close: async () => {
      await app.close();
      await database.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

export interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

export async function autocannon(
  url: string,
  options: { connections: number; seconds: number; method?: string; body?: string; headers?: string[] },
): Promise<Run> {
  const args = [AUTOCANNON, "-c", String(options.connections), "-d", String(options.seconds), "-j"];
  if (options.method) args.push("-m", options.method);
  if (options.body) args.push("-b", options.body);
  for (const h of options.headers ?? []) args.push("-H", h);
  args.push(url);
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 });
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
  };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx };
}

/** An account on Starter (anchored on the 1st) with an active admin and a sandbox card. */
export async function benchCustomer(server: BenchServer, i: number) {
  const account = await (
    await server.request("POST", "/v1/accounts", {
      external_id: `bench_${i}_${randomBytes(3).toString("hex")}`,
      name: `Bench ${i}`,
    })
  ).json();
  const anchor = new Date();
  anchor.setUTCDate(1);
  anchor.setUTCHours(0, 0, 0, 0);
  await server.request("POST", "/v1/subscriptions", {
    account: account.id,
    plan: "starter",
    billing_cycle_anchor: anchor.toISOString(),
  });
  const adminMember = await (
    await server.request("POST", `/v1/accounts/${account.id}/members`, {
      email: `admin${i}@bench.test`,
      role: "admin",
      status: "active",
      user_id: `admin_${i}`,
    })
  ).json();
  await server.request("POST", `/v1/accounts/${account.id}/payment_methods`, { token: "sandbox_visa" });
  return { account: account.id as string, admin: adminMember.id as string };
}
