/**
 * POST /v1/check over HTTP at 50 connections (autocannon, in its own process) against a trivial
 * Fastify route in the same run. The check is answered from the server's in-memory entitlement
 * cache, and the key from the key cache: no database round trip per request.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Fastify from "fastify";
import pg from "pg";
import { buildApp } from "../packages/server/src/app.ts";
import { readCatalogFile } from "../packages/server/src/catalog-file.ts";
import { openDatabase } from "../packages/server/src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../packages/server/src/demo/catalog-file.ts";
import { createAccount } from "../packages/server/src/services/accounts.ts";
import { applyCatalog } from "../packages/server/src/services/catalog.ts";
import { createSecretKey } from "../packages/server/src/services/keys.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions.ts";

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_CHECK_SECONDS ?? 8);
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

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

/** autocannon in a child process, so the load generator does not share the server's event loop. */
async function autocannon(
  url: string,
  options: { method?: string; body?: string; headers?: string[] } = {},
): Promise<Run> {
  const args = [AUTOCANNON, "-c", String(CONNECTIONS), "-d", String(SECONDS), "-j"];
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

export default async function checkBenchmark(): Promise<string> {
  const name = `uptier_bench_${randomBytes(5).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: "", poolSize: 8 });
  try {
    await database.migrate();
    const at = new Date();
    const file = await readCatalogFile(DEMO_CATALOG_FILE);
    if (!file.ok) throw new Error("demo catalog invalid");
    await database.db.transaction((tx) => applyCatalog(tx, file.validation.catalog, at));
    const { secret } = await createSecretKey(database.db, "bench", at);
    const account = await database.db.transaction(async (tx) => {
      const a = await createAccount(tx, { external_id: "bench_check", name: "Bench", properties: {} }, at);
      await createSubscription(tx, { account: a.id, plan: "pro", interval: "month", add_ons: [] }, at);
      return a.id;
    });

    const trivial = Fastify({ logger: false });
    trivial.get("/ok", async () => ({ ok: true }));
    await trivial.listen({ port: 0, host: "127.0.0.1" });
    const trivialPort = (trivial.server.address() as { port: number }).port;
    const app = await buildApp({ db: database.db, logLevel: "silent" });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as { port: number }).port;
    const headers = [`authorization=Bearer ${secret}`, "content-type=application/json"];
    const body = JSON.stringify({ account, feature: "api_calls" });
    // warm both (JIT, caches)
    await fetch(`http://127.0.0.1:${port}/v1/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body,
    });

    const base = await autocannon(`http://127.0.0.1:${trivialPort}/ok`);
    const check = await autocannon(`http://127.0.0.1:${port}/v1/check`, { method: "POST", body, headers });
    const entitlements = await autocannon(`http://127.0.0.1:${port}/v1/accounts/${account}/entitlements`, {
      headers: [`authorization=Bearer ${secret}`],
    });
    await app.close();
    await trivial.close();
    const row = (label: string, r: Run) =>
      `| ${label} | ${Math.round(r.rps).toLocaleString("en-US")} | ${(r.rps / base.rps).toFixed(2)} | ${r.p50} ms | ${r.p99} ms | ${r.non2xx} |`;
    return [
      "## Entitlement check over HTTP",
      "",
      `autocannon, ${CONNECTIONS} connections, ${SECONDS} s each, in a child process; Node ${process.version}.`,
      "",
      "| route | req/s | ratio | p50 | p99 | non-2xx |",
      "|---|---|---|---|---|---|",
      row("trivial Fastify GET returning {ok:true} (baseline, same run)", base),
      row("POST /v1/check (auth, zod body + response, in-memory entitlements)", check),
      row("GET /v1/accounts/{id}/entitlements (all features)", entitlements),
    ].join("\n");
  } finally {
    await database.close();
    await admin(`drop database if exists ${name} with (force)`);
  }
}
