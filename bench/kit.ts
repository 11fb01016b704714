/**
 * What every benchmark shares: a fresh PostgreSQL database for the run (migrated, the demo catalog
 * applied, a secret key), dropped afterwards; and autocannon in a child process, so the load
 * generator does not share the server's event loop.
 */

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import pg from "pg";
import { readCatalogFile } from "../packages/server/src/catalog-file.ts";
import { type Database, openDatabase } from "../packages/server/src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../packages/server/src/demo/catalog-file.ts";
import { createSecretKey } from "../packages/server/src/services/accounts/api-keys.ts";
import { applyCatalog } from "../packages/server/src/services/catalog/apply.ts";

export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AUTOCANNON = fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url));

export async function admin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  readonly database: Database;
  readonly url: string;
  readonly secret: string;
  /** closes the pool and drops the database */
  drop(): Promise<void>;
}

export async function benchDatabase(poolSize: number): Promise<BenchDatabase> {
  const name = `uptier_bench_${randomBytes(5).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: "", poolSize });
  const drop = async () => {
    await database.close();
    await admin(`drop database if exists ${name} with (force)`);
  };
  try {
    await database.migrate();
    const file = await readCatalogFile(DEMO_CATALOG_FILE);
    if (!file.ok) throw new Error("demo catalog invalid");
    await database.db.transaction((tx) => applyCatalog(tx, file.validation.catalog, new Date()));
    const { secret } = await createSecretKey(database.db, "bench", new Date());
    return { database, url: url.toString(), secret, drop };
  } catch (error) {
    await drop();
    throw error;
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

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

/**
 * autocannon (in a child process, through its API) cycling through `bodies`, so requests differ as
 * real traffic does (many accounts, different changes) instead of repeating one body.
 */
export async function autocannonCycling(
  url: string,
  options: { connections: number; seconds: number; headers: Record<string, string>; bodies: string[] },
): Promise<Run> {
  const script = `
    const autocannon = require(${JSON.stringify(AUTOCANNON.replace(/autocannon\.js$/, ""))});
    let input = "";
    process.stdin.on("data", (c) => (input += c)).on("end", () => {
      const { url, connections, seconds, headers, bodies } = JSON.parse(input);
      let next = 0;
      autocannon({ url, connections, duration: seconds, method: "POST", headers,
        requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }) }] },
        (error, result) => {
          if (error) throw error;
          process.stdout.write(JSON.stringify({ rps: result.requests.average, p50: result.latency.p50,
            p99: result.latency.p99, non2xx: result.non2xx }));
        });
    });`;
  return runInChild("autocannon", script, { url, ...options });
}

/**
 * An open-loop load: POSTs `rate` requests per second, evenly spaced, cycling through `bodies`,
 * over at most `connections` keep-alive connections (a child process, so the generator does not share
 * the server's event loop). Each latency is measured from when its request was due, not from when a
 * free connection sent it, so time spent queued behind a slow answer counts (no coordinated
 * omission). autocannon's own rate limit sends each second's quota in a burst at the second's start,
 * which measures bursts, not a steady load.
 */
export async function pacedLoad(
  url: string,
  options: {
    connections: number;
    seconds: number;
    rate: number;
    headers: Record<string, string>;
    bodies: string[];
  },
): Promise<Run> {
  const script = `
    const http = require("node:http");
    let input = "";
    process.stdin.on("data", (c) => (input += c)).on("end", () => {
      const { url, connections, seconds, rate, headers, bodies } = JSON.parse(input);
      const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
      const target = new URL(url);
      const total = Math.round(rate * seconds);
      const latencies = [];
      let sent = 0, done = 0, non2xx = 0;
      const start = performance.now();
      const send = (due, body) => {
        const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST",
          headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on("end", () => {
            latencies.push(performance.now() - due);
            if (res.statusCode < 200 || res.statusCode > 299) non2xx++;
            if (++done === total) finish();
          });
        });
        req.on("error", () => { non2xx++; if (++done === total) finish(); });
        req.end(body);
      };
      const tick = () => {
        const now = performance.now();
        while (sent < total && start + (sent * 1000) / rate <= now) {
          send(start + (sent * 1000) / rate, bodies[sent % bodies.length]);
          sent++;
        }
        if (sent < total) setTimeout(tick, 1);
      };
      const finish = () => {
        agent.destroy();
        latencies.sort((a, b) => a - b);
        const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]);
        const seconds = (performance.now() - start) / 1000;
        process.stdout.write(JSON.stringify({ rps: total / seconds, p50: at(0.5), p99: at(0.99), non2xx }));
      };
      tick();
    });`;
  return runInChild("the paced load", script, { url, ...options });
}

/** autocannon GETs (in a child process, through its API) cycling through `paths` of one server. */
export async function autocannonPaths(
  base: string,
  options: { connections: number; seconds: number; headers: Record<string, string>; paths: string[] },
): Promise<Run> {
  const script = `
    const autocannon = require(${JSON.stringify(AUTOCANNON.replace(/autocannon\.js$/, ""))});
    let input = "";
    process.stdin.on("data", (c) => (input += c)).on("end", () => {
      const { base, connections, seconds, headers, paths } = JSON.parse(input);
      let next = 0;
      autocannon({ url: base, connections, duration: seconds, method: "GET", headers,
        requests: [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }] },
        (error, result) => {
          if (error) throw error;
          process.stdout.write(JSON.stringify({ rps: result.requests.average, p50: result.latency.p50,
            p99: result.latency.p99, non2xx: result.non2xx }));
        });
    });`;
  return runInChild("autocannon", script, { base, ...options });
}

/** Runs a load generator's script in a child process: its input as JSON on stdin, its output on stdout. */
export async function runInChild<T = Run>(name: string, script: string, input: object): Promise<T> {
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  child.stdin.end(JSON.stringify(input));
  let out = "";
  child.stdout.on("data", (c) => {
    out += c;
  });
  const [code] = (await once(child, "close")) as [number];
  if (code !== 0) throw new Error(`${name} exited with ${code}`);
  return JSON.parse(out) as T;
}

/**
 * Sends each body once (POST; or a GET per null body) over `connections` keep-alive connections from a
 * worker thread, so the load generator does not share the server's event loop. Resolves with the
 * wall time, the failures (non-200), every answer in order and the latency percentiles.
 */
export function loadInWorker(
  url: string,
  headers: Record<string, string>,
  bodies: (string | null)[],
  connections: number,
) {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const http = require("node:http");
    const { url, headers, bodies, connections } = workerData;
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    const target = new URL(url);
    let next = 0, failures = 0;
    const latencies = [];
    function post(body) {
      return new Promise((resolve) => {
        const t0 = process.hrtime.bigint();
        const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: body === null ? "GET" : "POST",
          headers: body === null ? headers : { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            if (res.statusCode !== 200) failures++;
            resolve(Buffer.concat(chunks).toString());
          });
        });
        req.on("error", () => { failures++; resolve(null); });
        req.end(body ?? undefined);
      });
    }
    const answers = [];
    async function loop() { while (next < bodies.length) { const i = next++; answers[i] = await post(bodies[i]); } }
    const start = Date.now();
    Promise.all(Array.from({ length: connections }, loop)).then(() => {
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))];
      parentPort.postMessage({ ms: Date.now() - start, failures, answers, p50: at(0.5), p99: at(0.99) });
    });
  `;
  return new Promise<{ ms: number; failures: number; answers: (string | null)[]; p50: number; p99: number }>(
    (resolve, reject) => {
      const worker = new Worker(code, { eval: true, workerData: { url, headers, bodies, connections } });
      worker.once("message", (m) => {
        resolve(m);
        void worker.terminate();
      });
      worker.once("error", reject);
    },
  );
}

/**
 * Whether this run could show an absolute latency target at all: when the trivial baseline's own
 * p99 at the same concurrency is at or above the target, no route can meet it on this machine
 * (a shared host, slower some days than others), and only the ratio carries over between runs.
 */
export function latencyCeiling(baselineP99: number, targetMs: number, connections: number): string {
  return baselineP99 >= targetMs
    ? `On this run the trivial baseline's own p99 at ${connections} connections was ${baselineP99} ms, at or above the ${targetMs} ms target: no route could meet it on this machine today; compare the ratios between runs.`
    : `The trivial baseline's own p99 at ${connections} connections was ${baselineP99} ms, under the ${targetMs} ms target.`;
}
