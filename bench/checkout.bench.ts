/**
 * Checkouts on the sandbox gateway over HTTP on PostgreSQL: N accounts each with a fresh seat quote,
 * checked out by 50 concurrent clients, each request a distinct quote. Baseline in the same run:
 * GET /healthz through the same client pool. After the run every invariant is checked: one charge
 * and one applied change per quote, gap-free invoice numbers, a ledger that reconciles with the
 * invoices and with what the gateway collected. Target: ≥ 300 checkouts/s.
 */
import { eq, sql } from "drizzle-orm";
import { checkouts, invoices, subscriptions } from "../packages/server/src/db/schema/index.ts";
import { checkLedger } from "../packages/server/src/services/ledger/ledger.ts";
import { benchCustomer, startBenchServer } from "./billing-bench-kit.ts";
import { loadInWorker } from "./kit.ts";

const CONCURRENCY = 50;
const N = Number(process.env.BENCH_CHECKOUTS ?? 3000);

/** Runs `work` over the items with CONCURRENCY in flight (the set-up: customers and quotes). */
async function pool<T>(items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

export default async function checkoutBench(): Promise<string> {
  const server = await startBenchServer(30);
  try {
    const customers: { account: string; admin: string }[] = [];
    for (let i = 0; i < N; i += 50)
      customers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, N - i) }, (_, j) => benchCustomer(server, i + j)),
        )),
      );
    const quotes: { id: string; admin: string }[] = [];
    await pool(customers, async (c) => {
      const q = await (await server.request("POST", "/v1/quotes", { account: c.account, seats: 6 })).json();
      quotes.push({ id: q.id, admin: c.admin });
    });
    const headers = { authorization: `Bearer ${server.secret}` };
    const timed = async (path: string, bodies: (string | null)[]) => {
      const r = await loadInWorker(`${server.url}${path}`, headers, bodies, CONCURRENCY);
      return { rps: bodies.length / (r.ms / 1000), p50: r.p50, p99: r.p99, failures: r.failures };
    };
    const baseline = await timed(
      "/healthz",
      quotes.map(() => null),
    );
    const run = await timed(
      "/v1/checkout",
      quotes.map((q) => JSON.stringify({ quote: q.id, member: q.admin })),
    );
    const failures = run.failures;

    // Invariants after the run.
    const db = server.database.db;
    const problems: string[] = [];
    const ledger = await checkLedger(db);
    problems.push(...ledger.problems);
    const done = await db
      .select({ id: checkouts.id })
      .from(checkouts)
      .where(eq(checkouts.status, "succeeded"));
    if (done.length !== N) problems.push(`${done.length} succeeded checkouts for ${N} quotes`);
    const charges = await server.sandbox.collected();
    if (charges.length !== N) problems.push(`${charges.length} gateway charges for ${N} quotes`);
    const collected = charges.reduce((s, p) => s + p.amount, 0);
    if (collected !== ledger.totals.cash)
      problems.push(`gateway collected ${collected} ≠ ledger cash ${ledger.totals.cash}`);
    const seats = await db
      .select({ seats: subscriptions.seats, revision: subscriptions.revision })
      .from(subscriptions);
    if (seats.some((s) => s.seats !== 6 || s.revision !== 2))
      problems.push("a subscription was not changed exactly once");
    const numbers = (await db.select({ sequence: invoices.sequence }).from(invoices))
      .map((r) => Number(r.sequence))
      .sort((a, b) => a - b);
    if (numbers.length !== N || numbers.some((n, i) => n !== i + 1))
      problems.push("invoice numbers have a gap or a duplicate");
    const numbered = await db.execute(
      sql`select count(*)::int as n from domain_events e join invoices i on i.id = e.data -> 'invoice' ->> 'id'
          where e.type = 'invoice.paid' and e.data -> 'invoice' ->> 'number' = i.number`,
    );
    const paidEvents = Number((numbered as unknown as { rows: { n: number }[] }).rows[0]?.n ?? 0);
    if (paidEvents !== N) problems.push(`${paidEvents} invoice.paid events carry their invoice's number`);
    const ok = problems.length === 0 && failures === 0 && run.rps >= 300;
    return [
      "## Checkout on the sandbox gateway (`npm run bench -- checkout`)",
      "",
      `${N} checkouts of distinct seat quotes (PostgreSQL, ${CONCURRENCY} keep-alive HTTP connections from a worker thread, 127.0.0.1), against GET /healthz through the same client in the same run.`,
      "",
      "| route | req/s | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: |",
      `| GET /healthz (baseline) | ${Math.round(baseline.rps)} | ${baseline.p50.toFixed(1)} | ${baseline.p99.toFixed(1)} |`,
      `| POST /v1/checkout | ${Math.round(run.rps)} | ${run.p50.toFixed(1)} | ${run.p99.toFixed(1)} |`,
      "",
      `Ratio to the baseline: ${(run.rps / baseline.rps).toFixed(3)}×. Non-200 answers: ${failures}.`,
      `Invariants after the run (${N} succeeded checkouts, ${N} gateway charges, seats changed once each, gap-free invoice numbers 1…${N}, ledger reconciled with invoices and gateway: cash ${ledger.totals.cash}): ${problems.length === 0 ? "**all hold**" : `**violated**: ${problems.join("; ")}`}.`,
      `Target ≥ 300 checkouts/s: **${ok ? "met" : "not met"}**.`,
    ].join("\n");
  } finally {
    await server.close();
  }
}
