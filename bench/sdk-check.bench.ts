import { Uptier } from "../packages/sdk/src/index.ts";
import { buildApp } from "../packages/server/src/app.ts";
import { createAccount } from "../packages/server/src/services/accounts/accounts.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions/subscriptions.ts";
import { benchDatabase } from "./kit.ts";

const N = 3_000_000;

export default async function sdkCheckBenchmark(): Promise<string> {
  const { database, secret, drop } = await benchDatabase(4);
  try {
    const at = new Date();
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
    await drop();
  }
}
