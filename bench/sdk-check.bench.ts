/**
 * The SDK's cached check in one process: check() (async, as applications call it) and the same
 * decision through the cache with await, against a baseline of two Map lookups and a comparison
 * (the physical floor of a cached check), measured in the same run.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Uptier } from "../packages/sdk/src/index.ts";
import { buildApp } from "../packages/server/src/app.ts";
import { readCatalogFile } from "../packages/server/src/catalog-file.ts";
import { openDatabase } from "../packages/server/src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../packages/server/src/demo/catalog-file.ts";
import { createAccount } from "../packages/server/src/services/accounts.ts";
import { applyCatalog } from "../packages/server/src/services/catalog.ts";
import { createSecretKey } from "../packages/server/src/services/keys.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions.ts";

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = 3_000_000;

async function admin(text: string) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export default async function sdkCheckBenchmark(): Promise<string> {
  const name = `uptier_bench_${randomBytes(5).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: "", poolSize: 4 });
  try {
    await database.migrate();
    const at = new Date();
    const file = await readCatalogFile(DEMO_CATALOG_FILE);
    if (!file.ok) throw new Error("demo catalog invalid");
    await database.db.transaction((tx) => applyCatalog(tx, file.validation.catalog, at));
    const { secret } = await createSecretKey(database.db, "bench", at);
    const accounts: string[] = [];
    for (let i = 0; i < 100; i++)
      accounts.push(
        await database.db.transaction(async (tx) => {
          const a = await createAccount(
            tx,
            { external_id: `bench_${i}`, name: `Bench ${i}`, properties: {} },
            at,
          );
          await createSubscription(tx, { account: a.id, plan: "pro", interval: "month", add_ons: [] }, at);
          return a.id;
        }),
      );
    const app = await buildApp({ db: database.db, logLevel: "silent" });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as { port: number }).port;
    const sdk = new Uptier({ apiKey: secret, baseUrl: `http://127.0.0.1:${port}` });
    const features = ["api_calls", "projects", "batch_export", "exports", "seats"];
    for (const a of accounts) await sdk.check(a, "api_calls");

    // baseline: the floor of any cached check — two Map lookups and a comparison
    const limits = new Map(accounts.map((a) => [a, new Map(features.map((f) => [f, 1000]))]));
    const usage = new Map(accounts.map((a) => [a, new Map(features.map((f) => [f, 10]))]));
    let sink = 0;
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      const a = accounts[i % 100] as string;
      const f = features[i % 5] as string;
      if ((usage.get(a)?.get(f) ?? 0) + 1 <= (limits.get(a)?.get(f) ?? 0)) sink++;
    }
    const baseRate = (N / (performance.now() - t)) * 1000;

    let allowed = 0;
    t = performance.now();
    for (let i = 0; i < N; i++) {
      const r = await sdk.check(accounts[i % 100] as string, features[i % 5] as string);
      if (r.allowed) allowed++;
    }
    const rate = (N / (performance.now() - t)) * 1000;
    const cached = allowed === N;
    await sdk.close();
    await app.close();
    if (sink < 0) throw new Error("unreachable");
    return [
      "## SDK cached check (one process)",
      "",
      `${N.toLocaleString("en-US")} checks over 100 accounts × 5 features, all answered from the cache (${cached ? "verified: every answer allowed, no request made" : "NOT all from cache"}); Node ${process.version}.`,
      "",
      "| path | checks/s | ratio |",
      "|---|---|---|",
      `| two Map lookups and a comparison (baseline, same run) | ${Math.round(baseRate).toLocaleString("en-US")} | 1.00 |`,
      `| await sdk.check(account, feature) (core decideCheck on the cached entitlements) | ${Math.round(rate).toLocaleString("en-US")} | ${(rate / baseRate).toFixed(2)} |`,
    ].join("\n");
  } finally {
    await database.close();
    await admin(`drop database if exists ${name} with (force)`);
  }
}
