import Fastify from "fastify";
import { buildApp } from "../packages/server/src/app.ts";
import { createAccount } from "../packages/server/src/services/accounts.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions.ts";
import { benchDatabase, type Run, autocannon as runAutocannon } from "./kit.ts";

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_CHECK_SECONDS ?? 8);
const autocannon = (url: string, options: { method?: string; body?: string; headers?: string[] } = {}) =>
  runAutocannon(url, { connections: CONNECTIONS, seconds: SECONDS, ...options });

export default async function checkBenchmark(): Promise<string> {
  const { database, secret, drop } = await benchDatabase(8);
  try {
    const at = new Date();
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
      row(
        "POST /v1/check (auth, zod-validated body, response by fast-json-stringify, in-memory entitlements)",
        check,
      ),
      row("GET /v1/accounts/{id}/entitlements (all features)", entitlements),
    ].join("\n");
  } finally {
    await drop();
  }
}
