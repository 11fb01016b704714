import type { EntitlementsView, UsageEventInput } from "@uptier/core";

/**
 * A tracked event that a cached snapshot may not count yet. Ticks order requests: a snapshot
 * requested after the server acknowledged an event counts it; one requested before the event was
 * sent does not; one requested in between may or may not, and is requested again after the ack.
 */
export interface Tracked {
  readonly event: UsageEventInput;
  /** the event's timestamp in ms */
  readonly at: number;
  /** the tick its first delivery was sent at; null while queued */
  sent: number | null;
  /** the tick the server acknowledged it at (counted now or before); null until then */
  acked: number | null;
}

/** Tracked events until a cached snapshot counts them, by account reference as tracked, then id. */
export class TrackedEvents extends Map<string, Map<string, Tracked>> {
  /** Remembers an event; false when its id is tracked already (the server counts it once). */
  add(event: UsageEventInput, at: number): boolean {
    let byId = this.get(event.account);
    if (byId?.has(event.id)) return false;
    if (!byId) {
      byId = new Map();
      this.set(event.account, byId);
    }
    byId.set(event.id, { event, at, sent: null, acked: null });
    return true;
  }

  find(event: UsageEventInput): Tracked | undefined {
    return this.get(event.account)?.get(event.id);
  }

  /** The tracked events of the account a snapshot is of (tracked by its id or its external id). */
  *of(view: EntitlementsView): Generator<Tracked> {
    yield* this.get(view.account)?.values() ?? [];
    if (view.external_id !== view.account) yield* this.get(view.external_id)?.values() ?? [];
  }

  /** Forgets events; returns the references that held any of them. */
  remove(events: readonly UsageEventInput[]): Set<string> {
    const refs = new Set<string>();
    for (const e of events) {
      const byId = this.get(e.account);
      if (!byId?.delete(e.id)) continue;
      refs.add(e.account);
      if (byId.size === 0) this.delete(e.account);
    }
    return refs;
  }

  /** Drops the reference's events acknowledged before the tick `oldest`. */
  dropAckedBefore(ref: string, oldest: number): void {
    const byId = this.get(ref);
    if (!byId) return;
    for (const [id, t] of byId) if (t.acked !== null && t.acked < oldest) byId.delete(id);
    if (byId.size === 0) this.delete(ref);
  }
}
