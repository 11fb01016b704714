/**
 * Ingestion over HTTP into PostgreSQL: batches of 100 events, 10% duplicates, from a load generator
 * in a worker thread (so it does not share the server's event loop). Counters are verified exact
 * at the end. Baseline in the same run: a raw batched INSERT of the same rows (multi-row VALUES,
 * same connection count) into a plain copy of the table.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { buildApp } from "../packages/server/src/app.ts";
import { createAccount } from "../packages/server/src/services/accounts/accounts.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions/subscriptions.ts";
import { benchDatabase, loadInWorker } from "./kit.ts";

const ACCOUNTS = 1000;
const BATCHES = Number(process.env.BENCH_INGEST_BATCHES ?? 3000);
const BATCH = 100;
const DUPLICATES = 10;
const CONNECTIONS = Number(process.env.BENCH_INGEST_CONNECTIONS ?? 16);
/** the server's database pool: ingestion is bound by row locks on hot counters, so fewer concurrent transactions queue better */
const SERVER_POOL = Number(process.env.BENCH_INGEST_POOL ?? 4);

export default async function ingestBenchmark(): Promise<string> {
  const { database, url, secret, drop } = await benchDatabase(SERVER_POOL);
  try {
    const at = new Date();
    const accounts: string[] = [];
    for (let i = 0; i < ACCOUNTS; i++)
      await database.db.transaction(async (tx) => {
        const a = await createAccount(
          tx,
          { external_id: `bench_${i}`, name: `Bench ${i}`, properties: {} },
          at,
        );
        await createSubscription(tx, { account: a.id, plan: "business", interval: "month", add_ons: [] }, at);
        accounts.push(a.id);
      });

    // Batches of 100: 90 new events spread over the accounts, 10 copies of events already sent.
    const events: { id: string; account: string; event: string; timestamp: string; properties: object }[] =
      [];
    const bodies: string[] = [];
    const rng = (n: number) => Math.floor(Math.random() * n);
    for (let b = 0; b < BATCHES; b++) {
      const batch = [];
      for (let k = 0; k < BATCH - DUPLICATES; k++) {
        const e = {
          id: `e_${b}_${k}_${randomBytes(3).toString("hex")}`,
          account: accounts[rng(ACCOUNTS)] as string,
          event: "api.call",
          timestamp: at.toISOString(),
          properties: { path: "/v1/things", status: 200 },
        };
        events.push(e);
        batch.push(e);
      }
      for (let k = 0; k < DUPLICATES; k++)
        batch.push(events[rng(Math.max(1, events.length - BATCH))] as (typeof events)[number]);
      bodies.push(JSON.stringify({ events: batch }));
    }

    const app = await buildApp({ db: database.db, logLevel: "silent" });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as { port: number }).port;
    const result = await loadInWorker(
      `http://127.0.0.1:${port}/v1/events`,
      { authorization: `Bearer ${secret}` },
      bodies,
      CONNECTIONS,
    );
    await app.close();
    const sent = BATCHES * BATCH;
    let accepted = 0;
    let duplicates = 0;
    for (const answer of result.answers) {
      const parsed = answer ? (JSON.parse(answer) as { accepted: number; duplicates: number }) : null;
      accepted += parsed?.accepted ?? 0;
      duplicates += parsed?.duplicates ?? 0;
    }
    const client = new pg.Client({ connectionString: url.toString() });
    client.on("error", () => {});
    await client.connect();
    const stored = Number((await client.query("select count(*) as n from usage_events")).rows[0].n);
    const counted = Number(
      (
        await client.query(
          "select coalesce(sum(value), 0) as n from usage_counters where meter = 'api_calls'",
        )
      ).rows[0].n,
    );
    const exact = stored === events.length && counted === events.length && accepted === events.length;

    // Baseline: the same rows (duplicates included, as ON CONFLICT DO NOTHING), raw multi-row INSERTs.
    await client.query("create table raw_events (like usage_events including all)");
    await client.end();
    const pool = new pg.Pool({ connectionString: url.toString(), max: CONNECTIONS });
    const batches = bodies.map((b) => (JSON.parse(b) as { events: typeof events }).events);
    let nextBatch = 0;
    const rawStart = Date.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (nextBatch < batches.length) {
          // in key order, as the API writes, so concurrent batches do not deadlock
          const batch = [...(batches[nextBatch++] as typeof events)].sort((a, b) =>
            a.account === b.account ? (a.id < b.id ? -1 : 1) : a.account < b.account ? -1 : 1,
          );
          const values: unknown[] = [];
          const rows = batch.map((e, i) => {
            values.push(e.account, e.id, e.event, e.timestamp, JSON.stringify(e.properties));
            const p = i * 5;
            return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5})`;
          });
          await pool.query(
            `insert into raw_events (account_id, id, event, timestamp, properties) values ${rows.join(",")} on conflict do nothing`,
            values,
          );
        }
      }),
    );
    const rawMs = Date.now() - rawStart;
    await pool.end();

    const rate = (sent / result.ms) * 1000;
    const rawRate = (sent / rawMs) * 1000;
    return [
      "## Ingestion (POST /v1/events → PostgreSQL)",
      "",
      `${BATCHES.toLocaleString("en-US")} batches of ${BATCH} events (${DUPLICATES}% duplicates of events already sent) over ${CONNECTIONS} HTTP connections from a worker thread, ${ACCOUNTS.toLocaleString("en-US")} accounts, server pool of ${SERVER_POOL}; Node ${process.version}.`,
      "",
      "| path | events/s | ratio |",
      "|---|---|---|",
      `| raw batched INSERT … ON CONFLICT DO NOTHING of the same rows (baseline, same run) | ${Math.round(rawRate).toLocaleString("en-US")} | 1.00 |`,
      `| POST /v1/events (validate, dedupe, per-day window counters + outbox in one atomic statement) | ${Math.round(rate).toLocaleString("en-US")} | ${(rate / rawRate).toFixed(2)} |`,
      "",
      `p99 batch latency ${result.p99.toFixed(1)} ms; ${result.failures} failed requests. Exactly-once check: ${accepted.toLocaleString("en-US")} accepted, ${duplicates.toLocaleString("en-US")} reported duplicate, ${stored.toLocaleString("en-US")} stored, counters sum ${counted.toLocaleString("en-US")}, for ${events.length.toLocaleString("en-US")} unique events: **${exact ? "exact" : "MISMATCH"}**.`,
    ].join("\n");
  } finally {
    await drop();
  }
}
