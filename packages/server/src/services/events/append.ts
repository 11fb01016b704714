import type { DomainEventPayloads, DomainEventType } from "@uptier/core/api";
import { type SQL, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { domainEvents } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";

/** An event to append: its type and payload as the catalog (core/api/events.ts) defines them. */
export type EventToAppend<T extends DomainEventType = DomainEventType> = {
  [K in T]: { readonly type: K; readonly accountId: string | null; readonly data: DomainEventPayloads[K] };
}[T];

/**
 * Writes domain events in the caller's transaction (the outbox of docs/rules.md): consumers read
 * this log, so nothing is sent for a change that rolled back and nothing is lost for one that
 * committed. The payload is checked against the event catalog at compile time.
 */
export async function recordEvent(tx: Tx, event: EventToAppend & { readonly at: Date }): Promise<void> {
  await recordEvents(tx, [event], event.at);
}

export async function recordEvents(tx: Tx, events: readonly EventToAppend[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(domainEvents).values(
    events.map((e) => ({
      id: newId("event", at),
      accountId: e.accountId,
      type: e.type,
      data: e.data as Record<string, unknown>,
      createdAt: at,
    })),
  );
}

/**
 * The type and data columns of an event a writer appends in the very statement that makes its
 * change (usage ingestion, for speed): the type and payload keys are the catalog's, each value an
 * SQL expression declared with its field's type (`sql<readonly string[]>`…). The compiler checks
 * the shape; the writer's test checks that what the SQL computes reads back as the catalog's.
 */
export function eventColumnsSql<T extends DomainEventType>(
  type: T,
  data: { readonly [K in keyof DomainEventPayloads[T]]: SQL<DomainEventPayloads[T][K]> },
): SQL {
  const fields = Object.entries(data as Record<string, SQL>).map(
    ([key, value]) => sql`${key}::text, ${value}`,
  );
  return sql`${type}::text, jsonb_build_object(${sql.join(fields, sql`, `)})`;
}
