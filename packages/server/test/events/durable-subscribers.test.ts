import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Database, Executor } from "../../src/db/client.ts";
import { eventCursors } from "../../src/db/schema/index.ts";
import type { DurableEvent, DurableHandler } from "../../src/services/events/durable-cursor.ts";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import { openTestDatabase, TEST_ENGINE } from "../support/harness.ts";

/**
 * Durable subscribers of the domain-event log: every committed event delivered at least once, in
 * order, across restarts, with the handler's database writes and the cursor's move committed
 * together. Each test has subscribers of its own names on one database; a subscriber from the
 * start reads every event of the file, so expectations are taken from the log itself.
 */
let database: Awaited<ReturnType<typeof openTestDatabase>>;
const logs: DomainEventLog[] = [];

beforeAll(async () => {
  database = await openTestDatabase();
  await database.db.execute(
    sql`create table durable_effects (subscriber text not null, seq bigint not null, primary key (subscriber, seq))`,
  );
});

// a reader left polling would run its subscribers' transactions under the next test
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
});

afterAll(async () => {
  await database?.close();
  await database?.dropDatabase();
});

/** A reader that polls only when told to (drainDurable) by default, closed after the test. */
function reader(db = database.db, pollIntervalMs = 3_600_000): DomainEventLog {
  const log = new DomainEventLog(db, pollIntervalMs);
  logs.push(log);
  return log;
}

const rows = async <T>(db: Executor, query: ReturnType<typeof sql>) =>
  ((await db.execute(query)) as unknown as { rows: T[] }).rows;

/** Appends n events (and commits them); answers their sequence numbers. */
async function append(n: number, type = "account.updated", db: Executor = database.db): Promise<number[]> {
  const tag = randomBytes(6).toString("hex");
  const inserted = await rows<{ seq: string | number }>(
    db,
    sql`insert into domain_events (id, account_id, type, data)
        select 'evt_' || ${tag} || '_' || g, null, ${type}, jsonb_build_object('changes', jsonb_build_object('n', g))
        from generate_series(1, ${n}::int) g
        returning seq`,
  );
  return inserted.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

/** Takes a sequence number as a transaction does at insert, without committing an event for it. */
async function takeSeq(): Promise<number> {
  const [row] = await rows<{ seq: string | number }>(
    database.db,
    sql`select nextval(pg_get_serial_sequence('domain_events', 'seq')) as seq`,
  );
  return Number(row?.seq);
}

/** Commits an event under a number taken earlier: a transaction that commits late. */
async function commitLate(seq: number): Promise<void> {
  await database.db.execute(
    sql`insert into domain_events (seq, id, account_id, type, data) overriding system value
        values (${seq}, ${`evt_late_${seq}`}, null, 'account.updated', '{"changes":{}}'::jsonb)`,
  );
}

/** Every event of a known type in the log, in order. */
async function logSeqs(after = 0): Promise<number[]> {
  return (
    await rows<{ seq: string | number }>(
      database.db,
      sql`select seq from domain_events where seq > ${after} and type <> 'test.unknown' order by seq`,
    )
  ).map((r) => Number(r.seq));
}

async function effects(subscriber: string): Promise<number[]> {
  return (
    await rows<{ seq: string | number }>(
      database.db,
      sql`select seq from durable_effects where subscriber = ${subscriber} order by seq`,
    )
  ).map((r) => Number(r.seq));
}

async function cursorOf(subscriber: string) {
  const [row] = await database.db.select().from(eventCursors).where(eq(eventCursors.subscriber, subscriber));
  return row;
}

/**
 * A handler that writes one effect row per event in its transaction (a repeat would break the
 * primary key) and remembers each call's numbers.
 */
function recorder(subscriber: string, fail?: (call: number, events: readonly DurableEvent[]) => boolean) {
  const calls: number[][] = [];
  const handle: DurableHandler = async (events, tx) => {
    const seqs = events.map((e) => e.seq);
    calls.push(seqs);
    await tx.execute(
      sql`insert into durable_effects (subscriber, seq) select ${subscriber}, s from unnest(${`{${seqs.join(",")}}`}::bigint[]) s`,
    );
    if (fail?.(calls.length, events)) throw new Error(`handler failed on call ${calls.length}`);
  };
  return { calls, handle, seqs: () => calls.flat() };
}

describe(`durable subscribers of the domain-event log (${TEST_ENGINE})`, () => {
  it("deliver every event once, in order, in batches, and carry on where they stood after a restart", async () => {
    await append(25);
    await append(2, "test.unknown"); // a type this version does not know: passed over, cursor moves on
    const first = recorder("restart");
    const log1 = reader();
    log1.subscribeDurable({ name: "restart", from: "start", batchSize: 10, handle: first.handle });
    await log1.drainDurable();
    const before = await logSeqs();
    expect(first.seqs()).toEqual(before);
    expect(first.calls.every((c) => c.length <= 10)).toBe(true);
    expect(first.calls.length).toBeGreaterThanOrEqual(3);
    expect(await effects("restart")).toEqual(before);
    const [end] = await rows<{ seq: string }>(
      database.db,
      sql`select max(seq)::text as seq from domain_events`,
    );
    expect((await cursorOf("restart"))?.lastSeq).toBe(Number(end?.seq));

    const added = await append(15);
    await log1.close();
    const second = recorder("restart");
    const log2 = reader();
    // the cursor exists: "now" no longer applies
    log2.subscribeDurable({ name: "restart", from: "now", batchSize: 10, handle: second.handle });
    await log2.drainDurable();
    expect(second.seqs()).toEqual(added);
    expect(await effects("restart")).toEqual(await logSeqs());
    expect(log2.durableStatus("restart")).toMatchObject({ failures: 0 });
  });

  it("undo a failed batch with its database writes, and a new reader takes up from the last batch committed", async () => {
    const log1 = reader();
    const crashing = recorder("crash", (call) => call === 2);
    log1.subscribeDurable({ name: "crash", from: "now", batchSize: 10, handle: crashing.handle });
    await log1.drainDurable(); // opens the cursor at the log's end
    const events = await append(30);
    const before = Date.now();
    await log1.drainDurable();
    expect(crashing.calls.map((c) => c.length)).toEqual([10, 10]);
    // the first batch committed; the second's effects and cursor move were undone
    expect(await effects("crash")).toEqual(events.slice(0, 10));
    expect((await cursorOf("crash"))?.lastSeq).toBe(events[9]);
    const status = log1.durableStatus("crash");
    expect(status).toMatchObject({ failures: 1 });
    expect(String(status?.lastError)).toContain("handler failed on call 2");
    expect(status?.retryAt).toBeGreaterThanOrEqual(before + 1000);

    await log1.close();
    const resumed = recorder("crash");
    const log2 = reader();
    log2.subscribeDurable({ name: "crash", from: "start", batchSize: 10, handle: resumed.handle });
    await log2.drainDurable();
    expect(resumed.seqs()).toEqual(await logSeqs(events[9]));
    expect(await effects("crash")).toEqual(events);
  });

  it("retry a failing handler on the poll, with a growing backoff, holding up neither other subscribers nor the caches", async () => {
    const log = reader(database.db, 10);
    const attempts: number[] = [];
    const flaky = recorder("flaky", () => {
      attempts.push(Date.now());
      return attempts.length <= 2;
    });
    const steady = recorder("steady");
    const cached: number[] = [];
    log.subscribe((events) => cached.push(...events.map((e) => e.seq)));
    const failures: number[] = [];
    log.subscribeDurable({
      name: "flaky",
      from: "now",
      handle: flaky.handle,
      retry: { initialMs: 60, maxMs: 10_000 },
      onFailure: (_error, n) => failures.push(n),
    });
    log.subscribeDurable({ name: "steady", from: "now", handle: steady.handle });
    await log.drainDurable(); // both cursors open at the log's end
    await log.start();
    const events = await append(5);
    await vi.waitFor(
      async () => {
        expect(steady.seqs()).toEqual(events);
        expect(cached).toEqual(events);
      },
      { timeout: 10_000, interval: 10 },
    );
    await vi.waitFor(async () => expect(await effects("flaky")).toEqual(events), {
      timeout: 10_000,
      interval: 20,
    });
    expect(flaky.calls).toEqual([events, events, events]);
    expect(failures).toEqual([1, 2]);
    const [a, b, c] = attempts as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(55);
    expect(c - b).toBeGreaterThanOrEqual(115); // doubled
    expect(log.durableStatus("flaky")).toMatchObject({ failures: 0, lastError: null });
  });

  it("deliver an event whose transaction commits after a later one was read", async () => {
    const late = await takeSeq();
    const after = await append(2);
    const log = reader();
    const rec = recorder("late");
    log.subscribeDurable({ name: "late", from: "start", handle: rec.handle });
    await log.drainDurable();
    expect(rec.seqs()).not.toContain(late);
    expect(rec.seqs()).toEqual(expect.arrayContaining(after));
    const gaps = (await cursorOf("late"))?.gaps ?? [];
    expect(gaps.some((g) => g.from <= late && late <= g.to)).toBe(true);
    expect((await log.lag("late"))?.gapSeqs).toBeGreaterThanOrEqual(1);
    rec.calls.length = 0;
    await commitLate(late);
    await log.drainDurable();
    expect(rec.calls).toEqual([[late]]);
    expect((await cursorOf("late"))?.gaps.some((g) => g.from <= late && late <= g.to)).toBe(false);
    expect(await effects("late")).toEqual(await logSeqs());
  });

  it("give up a gap whose transaction ended without committing, once its patience is spent", async () => {
    const log = reader();
    const rec = recorder("rolled-back");
    log.subscribeDurable({ name: "rolled-back", from: "now", handle: rec.handle, gapPatienceMs: 0 });
    await log.drainDurable();
    const lost = await takeSeq(); // as a transaction that rolls back leaves it
    const [next] = await append(1);
    await log.drainDurable();
    expect(rec.seqs()).toEqual([next]);
    expect((await cursorOf("rolled-back"))?.gaps.map((g) => [g.from, g.to])).toEqual([[lost, lost]]);
    await log.drainDurable(); // the transaction that saw it has ended: nothing can commit it now
    expect((await cursorOf("rolled-back"))?.gaps).toEqual([]);
  });

  it('start from the log\'s first event with "start", and from its end at registration with "now"', async () => {
    const log = reader();
    const fromStart = recorder("from-start");
    const fromNow = recorder("from-now");
    log.subscribeDurable({ name: "from-start", from: "start", handle: fromStart.handle });
    log.subscribeDurable({ name: "from-now", from: "now", handle: fromNow.handle });
    await log.drainDurable();
    expect(fromNow.seqs()).toEqual([]);
    const added = await append(2);
    await log.drainDurable();
    expect(fromStart.seqs()).toEqual(await logSeqs());
    expect(fromNow.seqs()).toEqual(added);
  });

  it('"now" still gets an event of a transaction in flight at registration', async () => {
    const inFlight = await takeSeq();
    await append(1);
    const log = reader();
    const rec = recorder("now-in-flight");
    log.subscribeDurable({ name: "now-in-flight", from: "now", handle: rec.handle });
    await log.drainDurable();
    expect(rec.seqs()).toEqual([]);
    await commitLate(inFlight);
    await log.drainDurable();
    expect(rec.seqs()).toEqual([inFlight]);
  });

  it("tell how far a subscriber is behind: events, and the age of the oldest", async () => {
    const log = reader();
    const rec = recorder("lagging");
    log.subscribeDurable({ name: "lagging", from: "now", handle: rec.handle });
    await log.drainDurable();
    const at = new Date("2026-12-06T10:00:00Z");
    await database.db.execute(
      sql`insert into domain_events (id, account_id, type, data, created_at)
          select 'evt_lag_' || g, null, 'account.updated', '{"changes":{}}'::jsonb, ${at.toISOString()}::timestamptz + g * interval '1 second'
          from generate_series(1, 4) g`,
    );
    const lag = await log.lag("lagging", new Date(at.getTime() + 6_000));
    expect(lag).toMatchObject({
      subscriber: "lagging",
      behind: 4,
      oldestPendingAt: new Date(at.getTime() + 1000),
      oldestPendingAgeMs: 5000,
    });
    await log.drainDurable();
    expect(await log.lag("lagging")).toMatchObject({
      behind: 0,
      oldestPendingAt: null,
      oldestPendingAgeMs: null,
    });
    expect(await log.lag("never-registered")).toBeNull();
  });

  it("two readers on one database process each event of a subscriber exactly once between them", async () => {
    const seen: { node: number; seqs: number[] }[] = [];
    let inFlight = 0;
    let most = 0;
    const handler =
      (node: number): DurableHandler =>
      async (events, tx) => {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          seen.push({ node, seqs: events.map((e) => e.seq) });
          await tx.execute(
            sql`insert into durable_effects (subscriber, seq) select 'shared', s from unnest(${`{${events.map((e) => e.seq).join(",")}}`}::bigint[]) s`,
          );
          await new Promise((r) => setTimeout(r, 5));
        } finally {
          inFlight--;
        }
      };
    const nodes = [reader(database.db, 5), reader(database.db, 5)];
    nodes.forEach((log, node) => {
      log.subscribeDurable({ name: "shared", from: "now", batchSize: 7, handle: handler(node) });
    });
    await Promise.all(nodes.map((log) => log.drainDurable()));
    await Promise.all(nodes.map((log) => log.start()));
    const added: number[] = [];
    for (let burst = 0; burst < 6; burst++) {
      added.push(...(await append(10)));
      await new Promise((r) => setTimeout(r, 15));
    }
    await vi.waitFor(async () => expect((await nodes[0]?.lag("shared"))?.behind).toBe(0), {
      timeout: 20_000,
      interval: 20,
    });
    const delivered = seen.flatMap((s) => s.seqs).sort((a, b) => a - b);
    expect(delivered).toEqual(added);
    expect(await effects("shared")).toEqual(added);
    expect(most).toBe(1);
    for (const log of nodes) expect(log.durableStatus("shared")).toMatchObject({ failures: 0 });
  });

  it("refuse a second subscriber of the same name on one reader", () => {
    const log = reader();
    const handle: DurableHandler = async () => {};
    log.subscribeDurable({ name: "twice", from: "now", handle });
    expect(() => log.subscribeDurable({ name: "twice", from: "now", handle })).toThrow(/registered already/);
  });
});

/** Held open until released: a transaction still in flight, or a handler at work. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe.runIf(TEST_ENGINE === "postgres")("durable subscribers across connections (PostgreSQL)", () => {
  let second: Database;

  beforeAll(async () => {
    // a second pool on the same database: another node
    const { openDatabase } = await import("../../src/db/client.ts");
    const [row] = await rows<{ db: string }>(database.db, sql`select current_database() as db`);
    const url = new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test");
    url.pathname = `/${row?.db}`;
    second = await openDatabase({ databaseUrl: url.toString(), dataDir: "" });
  });

  afterAll(async () => {
    await second?.close();
  });

  it("a transaction still running keeps its gap open past the patience, and is delivered when it commits", async () => {
    const log = reader();
    const rec = recorder("in-flight");
    log.subscribeDurable({ name: "in-flight", from: "now", handle: rec.handle, gapPatienceMs: 0 });
    await log.drainDurable();
    const inserted = gate();
    const commit = gate();
    let heldSeq = 0;
    const held = second.db.transaction(async (tx) => {
      [heldSeq] = (await append(1, "account.updated", tx)) as [number];
      inserted.open();
      await commit.opened;
    });
    await inserted.opened;
    const later = await append(1);
    await log.drainDurable();
    await log.drainDurable(); // patience 0: only the running transaction keeps the gap
    expect(rec.seqs()).toEqual(later);
    expect((await cursorOf("in-flight"))?.gaps.map((g) => [g.from, g.to])).toEqual([[heldSeq, heldSeq]]);
    commit.open();
    await held;
    await log.drainDurable();
    expect(rec.seqs()).toEqual([...later, heldSeq]);
    expect((await cursorOf("in-flight"))?.gaps).toEqual([]);
  });

  it("two nodes with their own connections: one processes a subscriber while the other skips it", async () => {
    const nodeA = reader(database.db);
    const nodeB = reader(second.db);
    const working = gate();
    const release = gate();
    const a: number[][] = [];
    const b: number[][] = [];
    nodeA.subscribeDurable({
      name: "two-nodes",
      from: "now",
      handle: async (events) => {
        a.push(events.map((e) => e.seq));
        working.open();
        await release.opened;
      },
    });
    nodeB.subscribeDurable({
      name: "two-nodes",
      from: "now",
      handle: async (events) => {
        b.push(events.map((e) => e.seq));
      },
    });
    await nodeA.drainDurable();
    const first = await append(3);
    const drainingA = nodeA.drainDurable();
    await working.opened;
    await nodeB.drainDurable(); // A holds the subscriber: B skips it and handles nothing
    expect(b).toEqual([]);
    release.open();
    await drainingA;
    const next = await append(2);
    await nodeB.drainDurable(); // B reads the cursor A committed
    expect(a).toEqual([first]);
    expect(b).toEqual([next]);
  });

  it("a durable handler at work holds up neither the caches nor read-your-writes", async () => {
    const log = reader();
    const working = gate();
    const release = gate();
    log.subscribeDurable({
      name: "slow",
      from: "now",
      handle: async () => {
        working.open();
        await release.opened;
      },
    });
    await log.drainDurable();
    await log.start();
    const cached: number[] = [];
    log.subscribe((events) => cached.push(...events.map((e) => e.seq)));
    const first = await append(1);
    const draining = log.drainDurable();
    await working.opened;
    const next = await append(1);
    await log.catchUp();
    expect(cached).toEqual(expect.arrayContaining([...first, ...next]));
    release.open();
    await draining;
  });

  it("two nodes with their own connections, polling: each event processed once between them", async () => {
    const seen: number[] = [];
    const handler: DurableHandler = async (events, tx) => {
      seen.push(...events.map((e) => e.seq));
      await tx.execute(
        sql`insert into durable_effects (subscriber, seq) select 'pooled', s from unnest(${`{${events.map((e) => e.seq).join(",")}}`}::bigint[]) s`,
      );
      await new Promise((r) => setTimeout(r, 3));
    };
    const nodes = [reader(database.db, 2), reader(second.db, 2), reader(second.db, 3)];
    for (const log of nodes)
      log.subscribeDurable({ name: "pooled", from: "now", batchSize: 5, handle: handler });
    await nodes[0]?.drainDurable();
    await Promise.all(nodes.map((log) => log.start()));
    const added = (
      await Promise.all([append(40), append(40, "account.updated", second.db), append(40)])
    ).flat();
    await vi.waitFor(async () => expect((await nodes[1]?.lag("pooled"))?.behind).toBe(0), {
      timeout: 20_000,
      interval: 20,
    });
    expect([...seen].sort((x, y) => x - y)).toEqual([...added].sort((x, y) => x - y));
    expect(await effects("pooled")).toEqual([...added].sort((x, y) => x - y));
    for (const log of nodes) expect(log.durableStatus("pooled")).toMatchObject({ failures: 0 });
  });
});
