import { type DomainEvent, upcastDomainEvent } from "@uptier/core/api";
import { eq, type SQL, sql } from "drizzle-orm";
import type { Db, Executor, Tx } from "../../db/client.ts";
import { jsonRowReader, parsedJson } from "../../db/json-rows.ts";
import { type CursorGap, domainEvents, eventCursors } from "../../db/schema/index.ts";
import { advanceCursor, gapSize, rangesOf } from "./cursor-gaps.ts";

/**
 * A durable subscriber's cursor in the database (table event_cursors): one batch of the log is
 * handed to the subscriber in a transaction that also moves its cursor, so what the handler writes
 * and how far the subscriber has read commit together. Two nodes never process one subscriber at
 * once: the batch's transaction holds the subscriber's lock, and a node that finds it taken skips.
 */

/** An event as a durable subscriber gets it: also its id (evt_…) and when it was written. */
export type DurableEvent = DomainEvent & { readonly seq: number; readonly id: string; readonly at: Date };

/** Runs in the transaction that moves the cursor past `events`; throwing undoes both. */
export type DurableHandler = (events: readonly DurableEvent[], tx: Tx) => Promise<void>;

export interface DurableBatchSpec {
  readonly name: string;
  readonly batchSize: number;
  readonly gapPatienceMs: number;
  readonly handle: DurableHandler;
}

/** The subscriber's lock was held elsewhere: another node is processing it. */
export const BUSY = "busy";

export interface BatchOutcome {
  /** rows read, including events of types this version does not know (passed over) */
  readonly read: number;
  readonly delivered: number;
  /** the page was full: more may follow at once */
  readonly full: boolean;
}

/** The advisory-lock space of event cursors (the lock is this and the subscriber name's hash). */
const CURSOR_LOCK_SPACE = 0x55505449;

/** How far back a subscriber starting "now" looks for numbers of transactions still in flight. */
const NOW_TAIL = 10_000;

/**
 * Creates the subscriber's cursor unless it exists: at the log's start, or at its end as it
 * stands, less the numbers near the end not committed yet (they may belong to transactions still
 * running, which commit after "now").
 */
export async function openCursor(db: Db, name: string, from: "start" | "now", now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const [existing] = await tx
      .select({ subscriber: eventCursors.subscriber })
      .from(eventCursors)
      .where(eq(eventCursors.subscriber, name));
    if (existing) return;
    let lastSeq = 0;
    let gaps: CursorGap[] = [];
    if (from === "now") {
      const rows = await queryRows<{ end: string; missing: string | null }>(
        tx,
        sql`
        with tail as (select coalesce(max(seq), 0) as last from domain_events)
        select tail.last::text as end, m.seq::text as missing from tail
        left join lateral (
          select s as seq from generate_series(greatest(1, tail.last - ${NOW_TAIL} + 1), tail.last) s
          where not exists (select 1 from domain_events e where e.seq = s)
        ) m on true
        order by m.seq`,
      );
      lastSeq = Number(rows[0]?.end ?? 0);
      const missing = rows.flatMap((r) => (r.missing === null ? [] : [Number(r.missing)]));
      if (missing.length > 0) {
        const horizon = await currentTransactionId(tx);
        gaps = rangesOf(missing).map((r) => ({ ...r, seen: now.toISOString(), horizon }));
      }
    }
    await tx.insert(eventCursors).values({ subscriber: name, lastSeq, gaps }).onConflictDoNothing();
  });
}

/**
 * Processes one batch: takes the subscriber's lock (or answers BUSY), reads the page after its
 * cursor and in its gaps, hands the events to the handler and moves the cursor, all in one
 * transaction.
 */
export async function processBatch(
  db: Db,
  spec: DurableBatchSpec,
  now: () => Date,
): Promise<BatchOutcome | typeof BUSY> {
  return db.transaction(async (tx) => {
    // a statement of its own: the next one's snapshot then sees the commit of the node before
    const [lock] = await queryRows<{ locked: boolean }>(
      tx,
      sql`select pg_try_advisory_xact_lock(${CURSOR_LOCK_SPACE}::int, hashtext(${spec.name})) as locked`,
    );
    if (!lock?.locked) return BUSY;
    const [cursor] = await tx.select().from(eventCursors).where(eq(eventCursors.subscriber, spec.name));
    if (!cursor) throw new Error(`No cursor for the durable subscriber "${spec.name}".`);
    const page = await readPage(tx, cursor, spec.batchSize);
    const full = page.rows.length === spec.batchSize;
    const move = advanceCursor(cursor, {
      seqs: page.rows.map((r) => r.seq),
      full,
      xmin: page.xmin,
      now: now(),
      patienceMs: spec.gapPatienceMs,
    });
    const events: DurableEvent[] = [];
    for (const row of page.rows) {
      const event = upcastDomainEvent(row.type, row.accountId, row.data);
      if (event) events.push({ ...event, seq: row.seq, id: row.id, at: row.createdAt });
    }
    if (events.length > 0) await spec.handle(events, tx);
    let gaps = move.kept;
    if (move.opened.length > 0) {
      // this transaction's id is handed out after the page was read: every transaction that held
      // a number of the new gaps then has a lower one
      const horizon = await currentTransactionId(tx);
      const seen = now().toISOString();
      gaps = [...gaps, ...move.opened.map((r) => ({ ...r, seen, horizon }))];
    }
    if (move.lastSeq !== cursor.lastSeq || !sameGaps(gaps, cursor.gaps))
      await tx
        .update(eventCursors)
        .set({ lastSeq: move.lastSeq, gaps, updatedAt: sql`now()` })
        .where(eq(eventCursors.subscriber, spec.name));
    return { read: page.rows.length, delivered: events.length, full };
  });
}

const eventRow = jsonRowReader(domainEvents);

/** node-postgres and PGlite both answer { rows }; drizzle's shared type leaves the result open. */
async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/**
 * The page after the cursor and in its gaps, in order, with the oldest transaction running when
 * it was read: one statement, so both are of one snapshot.
 */
async function readPage(
  tx: Tx,
  cursor: { lastSeq: number; gaps: readonly CursorGap[] },
  limit: number,
): Promise<{ rows: (typeof domainEvents.$inferSelect)[]; xmin: string }> {
  const gaps = JSON.stringify(cursor.gaps.map((g) => ({ from: g.from, to: g.to })));
  const rows = await queryRows<{ xmin: string; event: unknown }>(
    tx,
    sql`
    with snap as (select pg_snapshot_xmin(pg_current_snapshot())::text as xmin),
    page as (
      select * from (
        (select * from domain_events where seq > ${cursor.lastSeq} order by seq limit ${limit})
        union all
        select e.* from jsonb_to_recordset(${gaps}::jsonb) as g("from" bigint, "to" bigint)
        join domain_events e on e.seq between g."from" and g."to"
      ) p
      order by seq
      limit ${limit}
    )
    select snap.xmin, to_json(page) as event from snap left join page on true order by page.seq`,
  );
  const xmin = rows[0]?.xmin;
  if (xmin === undefined) throw new Error("The log's snapshot could not be read.");
  return {
    xmin,
    rows: rows.flatMap((r) => {
      const json = r.event === null ? null : parsedJson<Record<string, unknown> | null>(r.event);
      return json?.seq == null ? [] : [eventRow(json)];
    }),
  };
}

async function currentTransactionId(tx: Tx): Promise<string> {
  const [row] = await queryRows<{ xid: string }>(tx, sql`select pg_current_xact_id()::text as xid`);
  if (!row) throw new Error("No transaction id.");
  return row.xid;
}

function sameGaps(a: readonly CursorGap[], b: readonly CursorGap[]): boolean {
  return (
    a.length === b.length &&
    a.every((g, i) => {
      const h = b[i];
      return h && g.from === h.from && g.to === h.to && g.seen === h.seen && g.horizon === h.horizon;
    })
  );
}

/** How far a durable subscriber is behind the log. */
export interface SubscriberLag {
  readonly subscriber: string;
  readonly lastSeq: number;
  /** committed events it has not processed yet (after its cursor, or committed late in a gap) */
  readonly behind: number;
  /** when the oldest of those was written, and how long ago */
  readonly oldestPendingAt: Date | null;
  readonly oldestPendingAgeMs: number | null;
  /** sequence numbers it is still waiting on (transactions in flight, or rolled back recently) */
  readonly gapSeqs: number;
  readonly updatedAt: Date;
}

/** The lag of a subscriber, from the database (any node can read it); null for one never opened. */
export async function readSubscriberLag(
  db: Executor,
  name: string,
  now: Date,
): Promise<SubscriberLag | null> {
  const [cursor] = await db.select().from(eventCursors).where(eq(eventCursors.subscriber, name));
  if (!cursor) return null;
  const gaps = JSON.stringify(cursor.gaps.map((g) => ({ from: g.from, to: g.to })));
  const [row] = await queryRows<{ behind: string | number; oldest: string | Date | null }>(
    db,
    sql`
    select count(*) as behind, min(created_at) as oldest from (
      select created_at from domain_events where seq > ${cursor.lastSeq}
      union all
      select e.created_at from jsonb_to_recordset(${gaps}::jsonb) as g("from" bigint, "to" bigint)
      join domain_events e on e.seq between g."from" and g."to"
    ) pending`,
  );
  const oldest = row?.oldest == null ? null : new Date(row.oldest);
  return {
    subscriber: name,
    lastSeq: cursor.lastSeq,
    behind: Number(row?.behind ?? 0),
    oldestPendingAt: oldest,
    oldestPendingAgeMs: oldest && now.getTime() - oldest.getTime(),
    gapSeqs: gapSize(cursor.gaps),
    updatedAt: cursor.updatedAt,
  };
}
