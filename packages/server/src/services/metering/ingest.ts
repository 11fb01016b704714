import {
  type AcceptedEvent,
  dayOf,
  type EventResult,
  type EventsBatchResponse,
  idOf,
  judgeEvent,
  MAX_BATCH_EVENTS,
  meterContribution,
  meteringCycle,
  usageWindowAt,
} from "@uptier/core";
import { sql } from "drizzle-orm";
import { type Executor, isTransaction } from "../../db/client.ts";
import { combinedMeterTotal, meterWindowTotal } from "../../db/queries/meter-window-total.ts";
import { newId } from "../../ids.ts";
import { findJsonFlaw, isStorableString, type JsonFlaw } from "../../lib/storable-json.ts";
import { DomainError } from "../errors.ts";
import { eventColumnsSql } from "../events/append.ts";
import { type AccountRef, type MeteringState, queryRows } from "./metering-state.ts";

/** One event on its way in: the raw JSON as sent, and its size for the per-event limit. */
export interface IncomingEvent {
  readonly raw: unknown;
  readonly bytes?: number;
  /** what in it cannot be stored: it is rejected for that, alone */
  readonly flaw?: JsonFlaw;
}

/**
 * An event of a batch as received: first checked for what cannot be stored, so a flawed one is
 * never serialised (JSON.stringify runs out of stack on deep nesting) nor sent to the database.
 */
export function receiveEvent(raw: unknown): IncomingEvent {
  const flaw = findJsonFlaw(raw);
  return flaw ? { raw, flaw } : { raw, bytes: Buffer.byteLength(JSON.stringify(raw) ?? "") };
}

/** The id an answer names: none when it could not be stored (the answer to a keyed request is). */
export function reportableId(id: string | null | undefined): string | null {
  return id != null && isStorableString(id) ? id : null;
}

interface Counted {
  readonly index: number;
  readonly account: AccountRef;
  readonly event: AcceptedEvent;
  readonly contributions: readonly {
    meter: string;
    aggregation: string;
    start: string;
    day: string;
    value: number;
    unique?: string;
  }[];
}

export interface IngestOutcome {
  readonly response: EventsBatchResponse;
  /** accounts whose usage changed, to invalidate once the transaction commits */
  readonly touched: ReadonlySet<string>;
}

export function assertBatchSize(count: number): void {
  if (count > MAX_BATCH_EVENTS)
    throw new DomainError(
      "batch_too_large",
      `A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${count}. Split it.`,
      { param: "events" },
    );
}

/**
 * Ingests a batch on `db` (the caller's transaction, or the database: the write is one atomic
 * statement): each event is judged on its own (shape, size, time window, account, meter
 * properties); the good ones are inserted once by (account, id) — a duplicate, also one racing on
 * another connection, inserts nothing and is reported as such — and the meter counters and daily
 * history are updated from exactly the rows inserted, atomically with them. One domain event
 * (usage.recorded) names the accounts whose usage moved.
 */
export async function ingestEvents(
  db: Executor,
  state: MeteringState,
  incoming: readonly IncomingEvent[],
  receivedAt: Date,
): Promise<IngestOutcome> {
  assertBatchSize(incoming.length);
  const results: EventResult[] = incoming.map((e, index) => ({
    index,
    id: reportableId(idOf(e.raw)),
    status: "rejected",
  }));
  const reject = (index: number, code: NonNullable<EventResult["code"]>, message: string) => {
    results[index] = {
      index,
      id: reportableId(idOf(incoming[index]?.raw)),
      status: "rejected",
      code,
      message,
    };
  };

  const judged: { index: number; event: AcceptedEvent }[] = [];
  incoming.forEach((e, index) => {
    if (e.flaw) {
      reject(index, e.flaw.code, `${e.flaw.param}: ${e.flaw.message}`);
      return;
    }
    const j = judgeEvent(e.raw, receivedAt, state.options, e.bytes);
    if (j.ok) judged.push({ index, event: j.value });
    else reject(index, j.code, j.message);
  });

  const refs = await state.resolveAccounts(
    db,
    judged.map((j) => j.event.account),
  );
  const unknown = [...new Set(judged.map((j) => j.event.account).filter((a) => !refs.has(a)))];
  if (unknown.length > 0 && state.options.unknownAccounts === "create") {
    // creating accounts and counting their events must commit together
    if (!isTransaction(db)) return db.transaction((tx) => ingestEvents(tx, state, incoming, receivedAt));
    for (const [ref, account] of await state.createAccounts(db, unknown, receivedAt)) refs.set(ref, account);
  }

  const snapshot = await state.catalog(db);
  const counted: Counted[] = [];
  const seen = new Set<string>();
  for (const { index, event } of judged) {
    const account = refs.get(event.account);
    if (!account) {
      reject(index, "unknown_account", `No account "${event.account}" (by id or external id).`);
      continue;
    }
    const key = `${account.id}\u0000${event.id}`;
    if (seen.has(key)) {
      results[index] = { index, id: event.id, status: "duplicate" };
      continue;
    }
    const meters = snapshot?.byEvent.get(event.event) ?? [];
    const profile = meters.length > 0 ? await state.profile(account, db) : null;
    const contributions: Counted["contributions"][number][] = [];
    let bad: string | null = null;
    for (const { key: meterKey, meter } of meters) {
      const c = meterContribution(meterKey, meter, event.properties);
      if (!c.ok) {
        bad = c.message;
        break;
      }
      const window = usageWindowAt(meter.reset, profile && meteringCycle(profile), event.timestamp);
      contributions.push({
        meter: meterKey,
        aggregation: meter.aggregation,
        start: window.start.toISOString(),
        day: dayOf(event.timestamp),
        value: c.value,
        ...(c.unique !== undefined ? { unique: c.unique } : {}),
      });
    }
    if (bad) {
      reject(index, "invalid_property_value", bad);
      continue;
    }
    seen.add(key);
    counted.push({ index, account, event, contributions });
  }

  const touched = new Set<string>();
  if (counted.length > 0) {
    const fresh = await writeBatch(db, counted, receivedAt);
    for (const c of counted) {
      const isNew = fresh.has(`${c.account.id}\u0000${c.event.id}`);
      results[c.index] = { index: c.index, id: c.event.id, status: isNew ? "accepted" : "duplicate" };
      if (isNew) touched.add(c.account.id);
    }
  }

  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  for (const r of results)
    if (r.status === "accepted") accepted++;
    else if (r.status === "duplicate") duplicates++;
    else rejected++;
  return { response: { object: "event_batch", accepted, duplicates, rejected, results }, touched };
}

/**
 * Writes a batch in ONE statement, so that without an Idempotency-Key it needs no transaction: the
 * events are inserted once by (account, id); the counters (count, sum and unique_count add, max
 * keeps the larger) and the unique values are updated from exactly the rows inserted (a duplicate,
 * also one racing on another connection, inserts nothing and counts nothing); one usage.recorded
 * domain event names the accounts whose usage moved. A single statement holds its counter row locks
 * only while PostgreSQL runs it (autocommit), not across a round trip to us, which is what bounded
 * concurrent batches before. Rows go in key order, so concurrent batches lock alike.
 * Returns the keys (account, id) of the events inserted.
 */
async function writeBatch(db: Executor, counted: readonly Counted[], at: Date): Promise<Set<string>> {
  const events = counted.map((c) => ({
    account_id: c.account.id,
    id: c.event.id,
    event: c.event.event,
    user_id: c.event.user ?? null,
    timestamp: c.event.timestamp.toISOString(),
    properties: c.event.properties,
  }));
  const contributions = counted.flatMap((c) =>
    c.contributions.map((k) => ({
      account_id: c.account.id,
      id: c.event.id,
      meter: k.meter,
      aggregation: k.aggregation,
      start: k.start,
      day: k.day,
      value: k.value,
      uniq: k.unique ?? null,
    })),
  );
  const when = at.toISOString();
  const inserted = await queryRows<{ account_id: string; id: string }>(
    db,
    sql`
    with ins as (
      insert into usage_events (account_id, id, event, user_id, timestamp, properties, created_at)
      select account_id, id, event, user_id, timestamp, properties, ${when}::timestamptz
      from jsonb_to_recordset(${JSON.stringify(events)}::jsonb)
        as x(account_id text, id text, event text, user_id text, timestamp timestamptz, properties jsonb)
      order by account_id, id
      on conflict do nothing
      returning account_id, id
    ), k as (
      select k.* from jsonb_to_recordset(${JSON.stringify(contributions)}::jsonb)
        as k(account_id text, id text, meter text, aggregation text, start timestamptz, day date, value numeric, uniq text)
      join ins using (account_id, id)
    ), u as (
      insert into usage_unique_values (account_id, meter, period_start, value)
      select distinct account_id, meter, start, uniq from k where uniq is not null
      order by account_id, meter, start, uniq
      on conflict do nothing
      returning account_id, meter, period_start, value
    ), counted as (
      select account_id, meter, start, day, aggregation, value from k where uniq is null
      union all
      -- a value new to the window counts once, on the first day it was seen in this batch
      select u.account_id, u.meter, u.period_start, min(k.day), 'unique_count', 1
      from u join k on k.account_id = u.account_id and k.meter = u.meter and k.start = u.period_start and k.uniq = u.value
      group by u.account_id, u.meter, u.period_start, u.value
    ), c as (
      insert into usage_counters (account_id, meter, period_start, day, aggregation, value, updated_at)
      select account_id, meter, start, day, aggregation,
        ${meterWindowTotal(sql`aggregation`, sql`value`)}, ${when}::timestamptz
      from counted
      group by account_id, meter, start, day, aggregation
      order by account_id, meter, start, day
      on conflict (account_id, meter, period_start, day) do update set
        value = ${combinedMeterTotal(sql`usage_counters.aggregation`, sql`usage_counters.value`, sql`excluded.value`)},
        updated_at = excluded.updated_at
    ), e as (
      insert into domain_events (id, account_id, type, data, created_at)
      select ${newId("event", at)}, case when count(distinct account_id) = 1 then min(account_id) end,
        ${eventColumnsSql("usage.recorded", { accounts: sql<readonly string[]>`jsonb_agg(distinct account_id order by account_id)` })},
        ${when}::timestamptz
      from ins
      having count(*) > 0
    )
    select account_id, id from ins`,
  );
  return new Set(inserted.map((r) => `${r.account_id}\u0000${r.id}`));
}

/**
 * Warms the caches a batch needs (catalog, account references, billing cycles) before its
 * transaction opens, so the transaction itself runs only the writes.
 */
export async function prepareIngest(state: MeteringState, incoming: readonly IncomingEvent[]): Promise<void> {
  const snapshot = await state.catalog();
  const refs = new Set<string>();
  const metered = new Set<string>();
  for (const e of incoming) {
    const raw = e.raw as { account?: unknown; event?: unknown } | null;
    if (e.flaw || !raw || typeof raw.account !== "string") continue;
    refs.add(raw.account);
    if (typeof raw.event === "string" && snapshot?.byEvent.has(raw.event)) metered.add(raw.account);
  }
  if (refs.size === 0) return;
  const found = await state.resolveAccounts(state.db, refs);
  await Promise.all([...metered].map((ref) => found.get(ref)).map((a) => (a ? state.profile(a) : null)));
}
