/**
 * POST /v1/quotes over HTTP at 50 connections (autocannon in its own process) on PostgreSQL,
 * against GET /healthz of the same server as the same-run baseline. The requests cycle through
 * different changes (seats and add-ons) of many accounts, as real traffic would. Each quote is
 * priced from the billing-state cache (kept fresh by the domain-event watcher) by core's
 * quoteChange and stored — quotes arriving together share one INSERT. Target: p99 < 10 ms.
 */
import { sql } from "drizzle-orm";
import { benchCustomer, startBenchServer } from "./billing-bench-kit.ts";
import { autocannon, autocannonCycling, latencyCeiling, pacedLoad, type Run } from "./kit.ts";

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_QUOTE_SECONDS ?? 8);
const ACCOUNTS = Number(process.env.BENCH_QUOTE_ACCOUNTS ?? 200);
/** Offered loads (quotes/s from all 50 connections together): the latency a caller sees below saturation. */
const OFFERED = [1000, 2000, 3000];

export default async function quoteBench(): Promise<string> {
  const server = await startBenchServer(20);
  try {
    const accounts: string[] = [];
    for (let i = 0; i < ACCOUNTS; i += 10) {
      const batch = Array.from({ length: Math.min(10, ACCOUNTS - i) }, (_, j) =>
        benchCustomer(server, i + j),
      );
      accounts.push(...(await Promise.all(batch)).map((c) => c.account));
    }
    // every account: one to three more seats, with and without an add-on (Starter has 5 seats)
    const bodies = accounts.flatMap((account) =>
      [6, 7, 8].flatMap((seats) => [
        JSON.stringify({ account, seats }),
        JSON.stringify({ account, seats, add_ons: [{ key: "advanced_reporting" }] }),
      ]),
    );
    const headers = { authorization: `Bearer ${server.secret}`, "content-type": "application/json" };
    const quotes = (seconds: number, connections = CONNECTIONS) =>
      autocannonCycling(`${server.url}/v1/quotes`, { connections, seconds, headers, bodies });
    await quotes(2); // warm up the JIT, the connection pool and the caches
    const baseline = await autocannon(`${server.url}/healthz`, {
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    const quote = await quotes(SECONDS);
    const alone = await quotes(SECONDS, 1);
    const offered: (Run & { rate: number })[] = [];
    for (const rate of OFFERED)
      offered.push({
        rate,
        ...(await pacedLoad(`${server.url}/v1/quotes`, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          rate,
          headers,
          bodies,
        })),
      });
    // the highest steady load before the first one whose p99 reaches 10 ms
    const firstOver = offered.findIndex((o) => o.p99 >= 10 || o.non2xx > 0);
    const within = offered[(firstOver === -1 ? offered.length : firstOver) - 1];
    const counted = await server.database.db.execute(sql`select count(*)::int as n from quotes`);
    const stored = (counted as unknown as { rows: { n: number }[] }).rows[0];
    const sample = await (
      await server.request("POST", "/v1/quotes", { account: accounts[0], seats: 6 })
    ).json();
    const ok = quote.p99 < 10 && quote.non2xx === 0;
    return [
      "## Quote over HTTP (`npm run bench -- quote`)",
      "",
      `POST /v1/quotes cycling through ${bodies.length} different changes (1–3 more seats, with and without an add-on) of ${ACCOUNTS} accounts on Starter (PostgreSQL, ${CONNECTIONS} connections, ${SECONDS} s, 127.0.0.1, autocannon in a child process) against GET /healthz of the same server in the same run; Node ${process.version}.`,
      "",
      "| route | req/s | p50 ms | p99 ms | non-2xx |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| GET /healthz (baseline) | ${Math.round(baseline.rps)} | ${baseline.p50} | ${baseline.p99} | ${baseline.non2xx} |`,
      `| POST /v1/quotes | ${Math.round(quote.rps)} | ${quote.p50} | ${quote.p99} | ${quote.non2xx} |`,
      `| POST /v1/quotes over 1 connection (for information: a quote's own latency, no queue) | ${Math.round(alone.rps)} | ${alone.p50} | ${alone.p99} | ${alone.non2xx} |`,
      ...offered.map(
        (o) =>
          `| POST /v1/quotes, ${CONNECTIONS} connections at a steady ${o.rate}/s (for information: an open-loop load below saturation, latency from when each request was due) | ${Math.round(o.rps)} | ${o.p50} | ${o.p99} | ${o.non2xx} |`,
      ),
      "",
      `Ratios to the baseline: throughput ${(quote.rps / baseline.rps).toFixed(3)}×, p99 ${(quote.p99 / Math.max(1, baseline.p99)).toFixed(1)}×. Quotes stored: ${stored?.n ?? 0}.`,
      `Target p99 < 10 ms at ${CONNECTIONS} connections, measured at saturation (every connection sends its next request as soon as the last is answered, so p99 follows from throughput: ${CONNECTIONS} in flight at 10 ms needs ≥ ${CONNECTIONS * 100} quotes/s): **${ok ? "met" : "not met"}** (${quote.p99} ms). The one-connection row shows what a quote takes when nothing waits ahead of it; ${within ? `below saturation, p99 stays under 10 ms up to the ${within.rate}/s offered` : "below saturation, p99 was not under 10 ms at any offered load measured"}.`,
      latencyCeiling(baseline.p99, 10, CONNECTIONS),
      `Sample: "${sample.summary_text}"`,
    ].join("\n");
  } finally {
    await server.close();
  }
}
