/**
 * POST /v1/quotes over HTTP at 50 connections (autocannon in its own process) on PostgreSQL,
 * against GET /healthz of the same server as the same-run baseline. A quote loads the subscription,
 * the seats in use, the credit balance and the period's history, prices the change in core, and
 * stores the quote: several round trips, one transaction. Target: p99 < 10 ms.
 */
import { benchCustomer, startBenchServer } from "./billing-bench-kit.ts";
import { autocannon } from "./kit.ts";

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_QUOTE_SECONDS ?? 8);

export default async function quoteBench(): Promise<string> {
  const server = await startBenchServer(20);
  try {
    const customer = await benchCustomer(server, 0);
    const headers = [`authorization=Bearer ${server.secret}`, "content-type=application/json"];
    // warm up the JIT and the connection pool
    await autocannon(`${server.url}/v1/quotes`, {
      connections: CONNECTIONS,
      seconds: 2,
      method: "POST",
      body: JSON.stringify({ account: customer.account, seats: 6 }),
      headers,
    });
    const baseline = await autocannon(`${server.url}/healthz`, {
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    const quote = await autocannon(`${server.url}/v1/quotes`, {
      connections: CONNECTIONS,
      seconds: SECONDS,
      method: "POST",
      body: JSON.stringify({ account: customer.account, seats: 6, add_ons: [{ key: "advanced_reporting" }] }),
      headers,
    });
    const sample = await (
      await server.request("POST", "/v1/quotes", { account: customer.account, seats: 6 })
    ).json();
    const ok = quote.p99 < 10 && quote.non2xx === 0;
    return [
      "## Quote over HTTP (`npm run bench -- quote`)",
      "",
      `POST /v1/quotes (1 seat + an add-on on Starter, PostgreSQL, ${CONNECTIONS} connections, ${SECONDS} s, 127.0.0.1) against GET /healthz of the same server in the same run.`,
      "",
      "| route | req/s | p50 ms | p99 ms | non-2xx |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| GET /healthz (baseline) | ${Math.round(baseline.rps)} | ${baseline.p50} | ${baseline.p99} | ${baseline.non2xx} |`,
      `| POST /v1/quotes | ${Math.round(quote.rps)} | ${quote.p50} | ${quote.p99} | ${quote.non2xx} |`,
      "",
      `Ratios to the baseline: throughput ${(quote.rps / baseline.rps).toFixed(3)}×, p99 ${(quote.p99 / Math.max(1, baseline.p99)).toFixed(1)}×.`,
      `Target p99 < 10 ms: **${ok ? "met" : "not met"}** (${quote.p99} ms). Sample: "${sample.summary_text}"`,
    ].join("\n");
  } finally {
    await server.close();
  }
}
