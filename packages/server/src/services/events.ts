import {
  type AcceptedEvent,
  dayOf,
  type EventResult,
  type EventsBatchResponse,
  idOf,
  judgeEvent,
  MAX_BATCH_EVENTS,
  meterContribution,
  usageWindowAt,
} from "@uptier/core";
import { sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { ApiError } from "../http/problem.ts";
import { newId } from "../ids.ts";
import { type AccountRef, type MeteringState, queryRows } from "./metering-state.ts";

/** One event on its way in: the raw JSON as sent, and its size for the per-event limit. */
export interface IncomingEvent {
  readonly raw: unknown;
  readonly bytes?: number;
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
    throw new ApiError(
      413,
      "batch_too_large",
      `A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${count}. Split it.`,
      { param: "events" },
    );
}

/**
 * Ingests a batch in the caller's transaction: each event is judged on its own (shape, size, time
 * window, account, meter properties); the good ones are inserted once by (account, id) — a
 * duplicate, also one racing on another connection, inserts nothing and is reported as such — and
 * the meter counters and daily history are updated from exactly the rows inserted, in the same
 * transaction. One domain event (usage.recorded) names the accounts whose usage moved.
 */
export async function ingestEvents(
  tx: Tx,
  state: MeteringState,
  incoming: readonly IncomingEvent[],
  receivedAt: Date,
): Promise<IngestOutcome> {
  assertBatchSize(incoming.length);
  const results: EventResult[] = incoming.map((e, index) => ({
    index,
    id: idOf(e.raw),
    status: "rejected",
  }));
  const reject = (index: number, code: NonNullable<EventResult["code"]>, message: string) => {
    results[index] = { index, id: idOf(incoming[index]?.raw), status: "rejected", code, message };
  };

  const judged: { index: number; event: AcceptedEvent }[] = [];
  incoming.forEach((e, index) => {
    const j = judgeEvent(e.raw, receivedAt, state.options, e.bytes);
    if (j.ok) judged.push({ index, event: j.value });
    else reject(index, j.code, j.message);
  });

  const refs = await state.resolveAccounts(
    tx,
    judged.map((j) => j.event.account),
  );
  const unknown = [...new Set(judged.map((j) => j.event.account).filter((a) => !refs.has(a)))];
  if (unknown.length > 0 && state.options.unknownAccounts === "create")
    for (const [ref, account] of await state.createAccounts(tx, unknown, receivedAt)) refs.set(ref, account);

  const snapshot = await state.catalog(tx);
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
    const profile = meters.length > 0 ? await state.profile(account, tx) : null;
    const contributions: Counted["contributions"][number][] = [];
    let bad: string | null = null;
    for (const { key: meterKey, meter } of meters) {
      const c = meterContribution(meterKey, meter, event.properties);
      if (!c.ok) {
        bad = c.message;
        break;
      }
      const window = usageWindowAt(meter.reset, profile?.subscription?.cycle ?? null, event.timestamp);
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
    const rows = counted.map((c) => ({
      account_id: c.account.id,
      id: c.event.id,
      event: c.event.event,
      user_id: c.event.user ?? null,
      timestamp: c.event.timestamp.toISOString(),
      properties: c.event.properties,
    }));
    // One statement for the whole batch; rows in key order so concurrent batches lock alike.
    const inserted = await queryRows<{ account_id: string; id: string }>(
      tx,
      sql`
      insert into usage_events (account_id, id, event, user_id, timestamp, properties, created_at)
      select account_id, id, event, user_id, timestamp, properties, ${receivedAt.toISOString()}::timestamptz
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as x(account_id text, id text, event text, user_id text, timestamp timestamptz, properties jsonb)
      order by account_id, id
      on conflict do nothing
      returning account_id, id`,
    );
    const fresh = new Set(inserted.map((r) => `${r.account_id}\u0000${r.id}`));
    const counters = new Map<
      string,
      { account_id: string; meter: string; start: string; day: string; aggregation: string; value: number }
    >();
    const uniques = new Map<
      string,
      { account_id: string; meter: string; start: string; value: string; day: string }
    >();
    const add = (accountId: string, c: Counted["contributions"][number], value: number) => {
      const key = `${accountId}\u0000${c.meter}\u0000${c.start}\u0000${c.day}`;
      const counter = counters.get(key);
      if (counter)
        counter.value = c.aggregation === "max" ? Math.max(counter.value, value) : counter.value + value;
      else
        counters.set(key, {
          account_id: accountId,
          meter: c.meter,
          start: c.start,
          day: c.day,
          aggregation: c.aggregation,
          value,
        });
    };
    for (const c of counted) {
      const isNew = fresh.has(`${c.account.id}\u0000${c.event.id}`);
      results[c.index] = { index: c.index, id: c.event.id, status: isNew ? "accepted" : "duplicate" };
      if (!isNew) continue;
      touched.add(c.account.id);
      for (const contribution of c.contributions) {
        if (contribution.unique === undefined) {
          add(c.account.id, contribution, contribution.value);
          continue;
        }
        const uk = `${c.account.id}\u0000${contribution.meter}\u0000${contribution.start}\u0000${contribution.unique}`;
        const earlier = uniques.get(uk);
        if (!earlier || contribution.day < earlier.day)
          uniques.set(uk, {
            account_id: c.account.id,
            meter: contribution.meter,
            start: contribution.start,
            value: contribution.unique,
            day: contribution.day,
          });
      }
    }
    if (uniques.size > 0) {
      const list = [...uniques.values()];
      const novel = await queryRows<{ account_id: string; meter: string; value: string; start: string }>(
        tx,
        sql`
        insert into usage_unique_values (account_id, meter, period_start, value)
        select account_id, meter, start, value
        from jsonb_to_recordset(${JSON.stringify(list)}::jsonb)
          as x(account_id text, meter text, start timestamptz, value text)
        order by account_id, meter, start, value
        on conflict do nothing
        returning account_id, meter, value, period_start as start`,
      );
      for (const row of novel) {
        const startIso = new Date(row.start).toISOString();
        const u = uniques.get(`${row.account_id}\u0000${row.meter}\u0000${startIso}\u0000${row.value}`);
        if (u)
          add(
            row.account_id,
            { meter: u.meter, aggregation: "unique_count", start: u.start, day: u.day, value: 1 },
            1,
          );
      }
    }
    if (touched.size > 0) await writeCounters(tx, [...counters.values()], touched, receivedAt);
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
 * Adds to the per-window, per-day counters and writes the usage.recorded domain event, in one
 * statement: count, sum and unique_count add; max keeps the larger. Rows in key order, so
 * concurrent batches take their row locks alike and do not deadlock.
 */
async function writeCounters(
  tx: Tx,
  counters: readonly {
    account_id: string;
    meter: string;
    start: string;
    day: string;
    aggregation: string;
    value: number;
  }[],
  touched: ReadonlySet<string>,
  at: Date,
): Promise<void> {
  const accounts = [...touched].sort();
  const only = accounts.length === 1 ? accounts[0] : null;
  await tx.execute(sql`
    with c as (
      insert into usage_counters (account_id, meter, period_start, day, aggregation, value, updated_at)
      select account_id, meter, start, day, aggregation, value, ${at.toISOString()}::timestamptz
      from jsonb_to_recordset(${JSON.stringify(counters)}::jsonb)
        as x(account_id text, meter text, start timestamptz, day date, aggregation text, value numeric)
      order by account_id, meter, start, day
      on conflict (account_id, meter, period_start, day) do update set
        value = case when usage_counters.aggregation = 'max'
          then greatest(usage_counters.value, excluded.value)
          else usage_counters.value + excluded.value end,
        updated_at = excluded.updated_at
      returning 1
    )
    insert into domain_events (id, account_id, type, data, created_at)
    select ${newId("event", at)}, ${only}, 'usage.recorded',
      ${JSON.stringify({ accounts })}::jsonb, ${at.toISOString()}::timestamptz
    where (select count(*) from c) >= 0`);
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
    if (!raw || typeof raw.account !== "string") continue;
    refs.add(raw.account);
    if (typeof raw.event === "string" && snapshot?.byEvent.has(raw.event)) metered.add(raw.account);
  }
  if (refs.size === 0) return;
  const found = await state.resolveAccounts(state.db, refs);
  await Promise.all([...metered].map((ref) => found.get(ref)).map((a) => (a ? state.profile(a) : null)));
}
