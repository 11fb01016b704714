import type { Tx } from "../../db/client.ts";
import { domainEvents } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";

/**
 * Writes a domain event in the caller's transaction (the transactional outbox of DESIGN.md):
 * consumers read this log, so nothing is sent for a change that rolled back and nothing is lost
 * for one that committed. Names are `noun.verb`.
 */
export async function recordEvent(
  tx: Tx,
  event: { type: string; accountId: string | null; data: Record<string, unknown>; at: Date },
): Promise<void> {
  await tx.insert(domainEvents).values({
    id: newId("event", event.at),
    accountId: event.accountId,
    type: event.type,
    data: event.data,
    createdAt: event.at,
  });
}
