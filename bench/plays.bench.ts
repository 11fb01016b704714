/**
 * Plays over HTTP on PostgreSQL, with the evaluation running as it does in `npm start` (the durable
 * subscriber `plays`, sharing the app's in-memory playbook):
 *
 * a) event accepted → prompt fetchable: single events POSTed at a steady rate (open loop), each to an
 *    account whose play then fires; for a sample of them, GET /v1/prompts is polled from the moment
 *    the POST was answered until the prompt is in the answer. Reported beside the p99 of the POSTs
 *    themselves, in the same run.
 * b) GET /v1/prompts (a prompt to show, rendered with its quote) against a trivial Fastify GET,
 *    measured in alternation; the ratios are per round, the table shows their median.
 * c) evaluation against ingestion at full speed: batches of events over every account, the plays
 *    subscriber's lag (`log.lag("plays")`) sampled while they arrive and until it has caught up.
 */
import { sql } from "drizzle-orm";
import Fastify from "fastify";
import { buildApp } from "../packages/server/src/app.ts";
import type { Db } from "../packages/server/src/db/client.ts";
import { openStepQueue } from "../packages/server/src/jobs/play-jobs.ts";
import { createAccount } from "../packages/server/src/services/accounts/accounts.ts";
import { createMember } from "../packages/server/src/services/accounts/members.ts";
import { DomainEventLog } from "../packages/server/src/services/events/log-reader.ts";
import { playsSubscription } from "../packages/server/src/services/plays/evaluate.ts";
import { applyPlaybook } from "../packages/server/src/services/plays/playbook.ts";
import { PlaybookCache } from "../packages/server/src/services/plays/playbook-cache.ts";
import { createSubscription } from "../packages/server/src/services/subscriptions/subscriptions.ts";
import {
  autocannon,
  autocannonPaths,
  benchDatabase,
  loadInWorker,
  median,
  type Run,
  runInChild,
} from "./kit.ts";

const ACCOUNTS = Number(process.env.BENCH_PLAYS_ACCOUNTS ?? 10_000);
const SERVER_POOL = Number(process.env.BENCH_PLAYS_POOL ?? 8);
/** a) */
const RATE = 200;
const LATENCY_SECONDS = Number(process.env.BENCH_PLAYS_LATENCY_SECONDS ?? 30);
/** every this-many-th event is followed to its prompt (polling them all would be a load of its own) */
const SAMPLE_EVERY = 10;
const POLL_MS = 20;
/** a prompt not in the answer this long after its event counts as missing */
const FOLLOW_LIMIT_MS = 300_000;
const TARGET_FETCH_P99_MS = 200;
/** b) */
const CONNECTIONS = 50;
const GET_SECONDS = Number(process.env.BENCH_PLAYS_GET_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_PLAYS_ROUNDS ?? 3);
const GET_ACCOUNTS = 500;
const TARGET_RATIO = 0.5;
/** c) */
const INGEST_BATCHES = Number(process.env.BENCH_PLAYS_INGEST_BATCHES ?? 300);
const BATCH = 100;
const INGEST_CONNECTIONS = 16;
const CATCH_UP_LIMIT_MS = 600_000;

/** Ten plays on the demo catalog, every one asked after each event (docs/plays.md, trigger kinds). */
const PLAYBOOK = `
version: 1
plays:
  - id: first-export
    name: First export
    priority: 500
    trigger: { kind: event_count, event: export.created, count: 1 }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message:
      title: "Exports are faster on {{next_plan.name}}"
      body: "{{next_plan.name}} is {{next_plan.price}}/{{plan.interval}}: {{offer.due_today}} today."
      cta: "Upgrade to {{next_plan.name}}"
  - id: usage-80
    name: Usage 80%
    priority: 100
    trigger: { kind: usage_ratio, feature: api_calls, at: 0.8 }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "{{usage.percent}}% of your {{feature.name}}", body: "{{usage.left}} left." }
  - id: usage-95
    name: Usage 95%
    priority: 110
    trigger: { kind: usage_ratio, feature: api_calls, at: 0.95 }
    escalates: usage-80
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "{{usage.left}} {{feature.name}} left", body: "{{offer.due_today}} today." }
  - id: api-limit
    name: API limit reached
    priority: 120
    trigger: { kind: limit_reached, feature: api_calls }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "You reached your {{feature.name}} limit", body: "{{next_plan.name}}: {{next_plan.limit}}." }
  - id: exports-half
    name: Half the exports
    priority: 90
    trigger: { kind: usage_ratio, feature: exports, at: 0.5 }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "{{usage.percent}}% of your exports", body: "{{usage.left}} left." }
  - id: reports-5
    name: Reports used 5 times
    priority: 80
    trigger: { kind: event_count, event: report.viewed, count: 5 }
    audience: { plans: [starter] }
    offer: { change: { kind: add_on, add_on: advanced_reporting } }
    message: { title: "Advanced reporting", body: "{{offer.price}}/{{offer.interval}} after the change." }
  - id: api-key
    name: API key generated
    priority: 70
    trigger: { kind: event_count, event: api_key.generated, count: 1 }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "More calls on {{next_plan.name}}", body: "{{next_plan.price}}/{{plan.interval}}." }
  - id: invites-3
    name: Three invites in a week
    priority: 60
    trigger: { kind: event_count, event: member.invited, count: 3, within_days: 7 }
    audience: { plans: [starter], roles: [admin] }
    offer: { change: { kind: seats, add: 1 } }
    message: { title: "Growing team", body: "One more seat is {{seat.price}}." }
  - id: locked-batch-export
    name: Batch export attempted
    priority: 50
    trigger: { kind: feature_locked, feature: batch_export }
    audience: { plans: [starter] }
    offer: { change: { kind: next_plan } }
    message: { title: "Batch export is on {{next_plan.name}}", body: "{{offer.due_today}} today." }
  - id: seat-limit
    name: Seat limit hit
    priority: 130
    trigger: { kind: seat_limit_hit }
    audience: { plans: [starter] }
    offer: { change: { kind: seats, add: 1 } }
    message: { title: "Add a seat", body: "{{seat.price}}/{{plan.interval}}, {{offer.due_today}} today." }
`;

interface Account {
  readonly id: string;
  readonly user: string;
}

/** Accounts on Starter, each with an admin whose vendor user id is known (a prompt needs one). */
async function makeAccounts(db: Db, n: number, at: Date): Promise<Account[]> {
  const made: Account[] = [];
  const PER_TX = 50;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        const from = next;
        next += PER_TX;
        await db.transaction(async (tx) => {
          for (let i = from; i < Math.min(from + PER_TX, n); i++) {
            const a = await createAccount(
              tx,
              { external_id: `plays_${i}`, name: `Bench ${i}`, properties: {} },
              at,
            );
            await createSubscription(
              tx,
              { account: a.id, plan: "starter", interval: "month", add_ons: [] },
              at,
            );
            const user = `user_${i}`;
            await createMember(
              tx,
              a.id,
              {
                email: `${user}@example.com`,
                role: "admin",
                user_id: user,
                status: "active",
                properties: {},
              },
              at,
            );
            made[i] = { id: a.id, user };
          }
        });
      }
    }),
  );
  return made;
}

interface FetchRun {
  rate: number;
  post: { p50: number; p99: number; non2xx: number };
  fetch: { p50: number; p99: number; max: number; n: number; missing: number };
}

/**
 * a) One event per POST at `rate`/s, evenly spaced (latency from when each was due); every
 * `sampleEvery`-th answered POST starts polling GET /v1/prompts for its account every `pollMs`
 * until the prompt is there: fetch latency runs from the POST's answer to that GET's answer.
 */
function eventToPrompt(input: {
  base: string;
  headers: Record<string, string>;
  rate: number;
  events: { body: string; prompts: string }[];
  sampleEvery: number;
  pollMs: number;
  followLimitMs: number;
}): Promise<FetchRun> {
  const script = `
    const http = require("node:http");
    let input = "";
    process.stdin.on("data", (c) => (input += c)).on("end", () => {
      const { base, headers, rate, events, sampleEvery, pollMs, followLimitMs } = JSON.parse(input);
      const target = new URL(base);
      const posts = new http.Agent({ keepAlive: true, maxSockets: 50 });
      // few sockets for the polls: when prompts are late, their polls must not become the load
      const gets = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const total = events.length;
      const postLatencies = [], fetchLatencies = [];
      let sent = 0, answered = 0, following = 0, non2xx = 0, missing = 0, finished = false, lastSent = 0;
      const start = performance.now();
      const request = (agent, method, path, body, done) => {
        const req = http.request({ agent, host: target.hostname, port: target.port, path, method,
          headers: body === null ? headers : { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (res) => { const chunks = []; res.on("data", (c) => chunks.push(c)); res.on("end", () => done(res.statusCode, Buffer.concat(chunks).toString())); });
        req.on("error", () => done(0, ""));
        req.end(body ?? undefined);
      };
      const maybeFinish = () => {
        if (finished || answered < total || following > 0) return;
        finished = true;
        posts.destroy(); gets.destroy();
        const pct = (list, q) => { const s = [...list].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? 0); };
        process.stdout.write(JSON.stringify({
          rate: total / ((lastSent - start) / 1000 + 1 / rate),
          post: { p50: pct(postLatencies, 0.5), p99: pct(postLatencies, 0.99), non2xx },
          fetch: { p50: pct(fetchLatencies, 0.5), p99: pct(fetchLatencies, 0.99), max: pct(fetchLatencies, 1), n: fetchLatencies.length, missing },
        }));
      };
      const follow = (path, since) => {
        request(gets, "GET", path, null, (status, text) => {
          const now = performance.now();
          if (status === 200 && JSON.parse(text).data.length > 0) { fetchLatencies.push(now - since); following--; maybeFinish(); }
          else if (now - since > followLimitMs) { missing++; following--; maybeFinish(); }
          else setTimeout(() => follow(path, since), pollMs);
        });
      };
      const send = (i, due) => {
        request(posts, "POST", "/v1/events", events[i].body, (status) => {
          const now = performance.now();
          postLatencies.push(now - due);
          if (status < 200 || status > 299) non2xx++;
          else if (i % sampleEvery === 0) { following++; follow(events[i].prompts, now); }
          answered++;
          maybeFinish();
        });
      };
      const tick = () => {
        const now = performance.now();
        while (sent < total && start + (sent * 1000) / rate <= now) { send(sent, start + (sent * 1000) / rate); sent++; }
        if (sent < total) setTimeout(tick, 1);
        else lastSent ||= performance.now();
      };
      tick();
    });`;
  return runInChild<FetchRun>("the event-to-prompt load", script, input);
}

const promptsPath = (a: Account) => `/v1/prompts?account=${a.id}&user=${a.user}&placement=banner`;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

export default async function playsBenchmark(): Promise<string> {
  const { database, secret, drop } = await benchDatabase(SERVER_POOL);
  const servers: { close(): Promise<unknown> }[] = [];
  try {
    const db = database.db;
    const setupStart = Date.now();
    const accounts = await makeAccounts(db, ACCOUNTS, new Date());
    const applied = await db.transaction((tx) => applyPlaybook(tx, { text: PLAYBOOK }, new Date()));
    const setupSeconds = (Date.now() - setupStart) / 1000;

    // as `npm start` runs it: one playbook in memory for the routes and the evaluation
    const playbooks = new PlaybookCache(db);
    const steps = await openStepQueue(database);
    servers.push({ close: () => steps.stop() });
    const app = await buildApp({
      db,
      logLevel: "silent",
      playbook: playbooks,
      subscribers: [playsSubscription(playbooks.inForce, steps)],
    });
    servers.push(app);
    await app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const trivial = Fastify({ logger: false });
    trivial.get("/ok", async () => ({ ok: true }));
    servers.push(trivial);
    await trivial.listen({ port: 0, host: "127.0.0.1" });
    const trivialUrl = `http://127.0.0.1:${(trivial.server.address() as { port: number }).port}/ok`;
    const auth = { authorization: `Bearer ${secret}` };
    const log = new DomainEventLog(db);

    // a) one export per account, each firing first-export for the account's admin
    const latencyAccounts = accounts.slice(0, RATE * LATENCY_SECONDS);
    const fetched = await eventToPrompt({
      base,
      headers: auth,
      rate: RATE,
      events: latencyAccounts.map((a, i) => ({
        body: JSON.stringify({ id: `export_${i}`, account: a.id, event: "export.created" }),
        prompts: promptsPath(a),
      })),
      sampleEvery: SAMPLE_EVERY,
      pollMs: POLL_MS,
      followLimitMs: FOLLOW_LIMIT_MS,
    });

    // the evaluation's backlog from a), if any, is drained before anything else is measured
    const drainStart = Date.now();
    while (((await log.lag("plays"))?.behind ?? 0) > 0 && Date.now() - drainStart < CATCH_UP_LIMIT_MS)
      await new Promise((r) => setTimeout(r, 250));
    const backlogSeconds = (Date.now() - drainStart) / 1000;

    // b) prompts to show (made in a), rendered with their quote), against the trivial GET
    const paths = latencyAccounts.slice(0, GET_ACCOUNTS).map(promptsPath);
    const quiet = accounts
      .slice(RATE * LATENCY_SECONDS, RATE * LATENCY_SECONDS + GET_ACCOUNTS)
      .map(promptsPath);
    const get = (list: string[], seconds = GET_SECONDS) =>
      autocannonPaths(base, { connections: CONNECTIONS, seconds, headers: auth, paths: list });
    const getTrivial = (seconds = GET_SECONDS) =>
      autocannon(trivialUrl, { connections: CONNECTIONS, seconds });
    // every prompt rendered once (its first answer stores its quote), then both servers warmed
    let nextPath = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (nextPath < paths.length) await fetch(`${base}${paths[nextPath++]}`, { headers: auth });
      }),
    );
    await get(paths, 2);
    await getTrivial(2);
    const rounds: { base: Run; prompts: Run }[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push({ base: await getTrivial(), prompts: await get(paths) });
    const nothing = await get(quiet);
    const ratio = median(rounds.map((r) => r.prompts.rps / r.base.rps));
    const baseRps = median(rounds.map((r) => r.base.rps));

    // c) ingestion at full speed over every account, the evaluation following
    const bodies: string[] = [];
    const mix = [
      "api.call",
      "api.call",
      "api.call",
      "api.call",
      "api.call",
      "api.call",
      "report.viewed",
      "export.created",
    ];
    for (let b = 0; b < INGEST_BATCHES; b++) {
      const events = [];
      for (let k = 0; k < BATCH; k++) {
        const n = b * BATCH + k;
        events.push({
          id: `ingest_${n}`,
          account: (accounts[(n * 7919) % accounts.length] as Account).id,
          event: mix[n % mix.length],
        });
      }
      bodies.push(JSON.stringify({ events }));
    }
    const samples: { t: number; behind: number; ageMs: number }[] = [];
    const ingestStart = Date.now();
    let ingesting = true;
    const sampling = (async () => {
      for (;;) {
        const lag = await log.lag("plays");
        const t = Date.now() - ingestStart;
        samples.push({ t, behind: lag?.behind ?? 0, ageMs: lag?.oldestPendingAgeMs ?? 0 });
        if (!ingesting && (lag?.behind ?? 0) === 0) return;
        if (t > CATCH_UP_LIMIT_MS) return;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const ingest = await loadInWorker(`${base}/v1/events`, auth, bodies, INGEST_CONNECTIONS);
    ingesting = false;
    const ingestEnd = Date.now() - ingestStart;
    await sampling;
    const last = samples.at(-1);
    const caughtUp = last !== undefined && last.behind === 0;
    const atEnd = samples.filter((s) => s.t <= ingestEnd).at(-1);
    const maxBehind = Math.max(...samples.map((s) => s.behind));
    const maxAge = Math.max(...samples.map((s) => s.ageMs));
    const events = INGEST_BATCHES * BATCH;
    const eventsPerSecond = (events / ingest.ms) * 1000;
    const prompts = await db.execute(sql`select count(*)::int as n from prompt_instances`);
    const promptCount = (prompts as unknown as { rows: { n: number }[] }).rows[0]?.n ?? 0;

    const fetchMet = fetched.fetch.p99 < TARGET_FETCH_P99_MS && fetched.fetch.missing === 0;
    return [
      "## Plays (`npm run bench -- plays`)",
      "",
      `PostgreSQL, server pool of ${SERVER_POOL}, ${fmt(ACCOUNTS)} accounts on Starter each with an admin, a playbook of ${applied.playbook.plays.length} plays (every one asked after each event), the plays subscriber running in the server as in \`npm start\` (domain-event log polled every 100 ms); 127.0.0.1, load generators in child processes or a worker thread; Node ${process.version}. Setup took ${setupSeconds.toFixed(0)} s.`,
      "",
      "### a) Event accepted → prompt fetchable, at a steady 200 events/s",
      "",
      `${fmt(latencyAccounts.length)} single events (\`export.created\`, one per account, each firing a play for its admin) POSTed at a steady ${RATE}/s for ${LATENCY_SECONDS} s (open loop: latency from when each was due); for every ${SAMPLE_EVERY}th, GET /v1/prompts polled every ${POLL_MS} ms (at most 4 polls in flight) from the POST's answer until the prompt is in it.`,
      "",
      "| measure | p50 ms | p99 ms | max ms | n |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| POST /v1/events (same run) | ${fetched.post.p50} | ${fetched.post.p99} | | ${fmt(latencyAccounts.length)} |`,
      `| POST answered → prompt in GET /v1/prompts | ${fetched.fetch.p50} | ${fetched.fetch.p99} | ${fetched.fetch.max} | ${fmt(fetched.fetch.n)} |`,
      "",
      `Sent at ${fetched.rate.toFixed(0)} events/s; ${fetched.post.non2xx} failed POSTs; ${fetched.fetch.missing} prompts not seen within ${FOLLOW_LIMIT_MS / 1000} s. Target p99 < ${TARGET_FETCH_P99_MS} ms: **${fetchMet ? "met" : "not met"}** (${fetched.fetch.p99} ms, beside the POST's own p99 of ${fetched.post.p99} ms). The evaluation's backlog was drained ${backlogSeconds.toFixed(1)} s after the load generator finished (the last followed prompt seen).`,
      "",
      "### b) GET /v1/prompts against a trivial GET",
      "",
      `autocannon, ${CONNECTIONS} connections, ${GET_SECONDS} s each after a 2 s warm-up, cycling through ${GET_ACCOUNTS} accounts' prompts (each rendered once before, so its quote is stored); the trivial GET and GET /v1/prompts in alternation, ${ROUNDS} rounds, each ratio to its own round's baseline, medians shown.`,
      "",
      "| route | req/s | ratio | p50 | p99 | non-2xx |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      `| trivial Fastify GET returning {ok:true} (baseline, same run) | ${fmt(baseRps)} | 1.00 | ${median(rounds.map((r) => r.base.p50))} ms | ${median(rounds.map((r) => r.base.p99))} ms | ${rounds.reduce((n, r) => n + r.base.non2xx, 0)} |`,
      `| GET /v1/prompts, a prompt to show (cadence, the account's numbers, its quote kept, copy rendered; nothing written) | ${fmt(median(rounds.map((r) => r.prompts.rps)))} | ${ratio.toFixed(3)} | ${median(rounds.map((r) => r.prompts.p50))} ms | ${median(rounds.map((r) => r.prompts.p99))} ms | ${rounds.reduce((n, r) => n + r.prompts.non2xx, 0)} |`,
      `| GET /v1/prompts, nothing to show (for information; measured once, after the rounds) | ${fmt(nothing.rps)} | ${(nothing.rps / baseRps).toFixed(3)} | ${nothing.p50} ms | ${nothing.p99} ms | ${nothing.non2xx} |`,
      "",
      `| round | baseline req/s | GET /v1/prompts req/s | ratio |`,
      "| --- | ---: | ---: | ---: |",
      ...rounds.map(
        (r, i) =>
          `| ${i + 1} | ${fmt(r.base.rps)} | ${fmt(r.prompts.rps)} | ${(r.prompts.rps / r.base.rps).toFixed(3)} |`,
      ),
      "",
      `Target ratio ≥ ${TARGET_RATIO}: **${ratio >= TARGET_RATIO ? "met" : "not met"}** (median ${ratio.toFixed(3)}).`,
      "",
      "### c) Evaluation against ingestion at full speed",
      "",
      `${fmt(INGEST_BATCHES)} batches of ${BATCH} events (api.call, report.viewed, export.created) spread over all ${fmt(ACCOUNTS)} accounts, ${INGEST_CONNECTIONS} connections from a worker thread; \`log.lag("plays")\` sampled every 250 ms until the subscriber had caught up.`,
      "",
      "| measure | value |",
      "| --- | ---: |",
      `| ingestion (POST /v1/events) | ${fmt(eventsPerSecond)} events/s over ${(ingest.ms / 1000).toFixed(1)} s, p99 ${ingest.p99.toFixed(0)} ms, ${ingest.failures} failed |`,
      `| lag when ingestion ended | ${atEnd?.behind ?? 0} domain events behind, the oldest ${fmt(atEnd?.ageMs ?? 0)} ms old |`,
      `| worst lag sampled | ${maxBehind} domain events behind; oldest pending ${fmt(maxAge)} ms |`,
      `| caught up | ${caughtUp ? `${(((last?.t ?? 0) - ingestEnd) / 1000).toFixed(1)} s after ingestion ended` : `**not within ${CATCH_UP_LIMIT_MS / 1000} s**`} |`,
      `| prompts made in the whole run | ${fmt(promptCount)} |`,
      "",
      `Evaluation keeps up with ingestion: **${caughtUp && (atEnd?.ageMs ?? 0) < 1000 ? "yes" : "no"}** (keeping up: less than a second behind when ingestion ends, and caught up after).`,
    ].join("\n");
  } finally {
    for (const s of servers.reverse()) await s.close();
    await drop();
  }
}
