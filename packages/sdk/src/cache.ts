import {
  type CheckResult,
  EntitlementsView,
  type EventsBatchResponse,
  type UsageEventInput,
} from "@uptier/core";
import { applyTracked, type CachedUsage } from "./optimistic.ts";
import type { Settings, UptierError } from "./options.ts";
import type { TrackedEvents } from "./tracked.ts";
import type { Transport } from "./transport.ts";

export interface Entry extends CachedUsage {
  /** the tick at which the snapshot (`base`) was requested */
  since: number;
  fetchedAt: number;
  failed: boolean;
  refreshing: Promise<void> | null;
  again: boolean;
  /** the server's answers for near-limit checks, until the next refresh */
  asked: Map<string, Promise<CheckResult | null>>;
  /** …and for checks denied here, until the next refresh or until tracked usage moves */
  askedDenied: Map<string, Promise<CheckResult | null>>;
}

/**
 * The local cache of each account's entitlements: the server's snapshots, under every key they
 * were asked for (account id or external id), with the events tracked here and not yet counted by
 * the server on top. Loads and refreshes are coalesced; ticks order them against the deliveries.
 */
export class EntitlementCache {
  /** whether the push channel is connected (snapshots are then fresh within about a second) */
  live = false;
  private closed = false;
  private readonly entries = new Map<string, Entry>();
  /** Uptier account id → the keys (id or external id) its entitlements are cached under */
  private readonly keysById = new Map<string, Set<string>>();
  /** account id and external id → the keys its entitlements are cached under (tracked events name either) */
  private readonly keysByRef = new Map<string, Set<string>>();
  private readonly loading = new Map<string, Promise<Entry | null>>();
  /** the ticks at which the loads in flight were requested */
  private readonly loadsSince = new Map<string, number>();
  /** references whose acknowledged events are kept only because a load was in flight */
  private readonly heldForLoads = new Set<string>();
  private ticks = 0;

  constructor(
    private readonly settings: Settings,
    private readonly transport: Transport,
    private readonly tracked: TrackedEvents,
    private readonly emitError: (error: UptierError) => void,
  ) {}

  entry(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** The client is closing: acknowledgements no longer refresh anything. */
  close(): void {
    this.closed = true;
    this.live = false;
  }

  load(account: string): Promise<Entry | null> {
    let p = this.loading.get(account);
    if (!p) {
      const since = this.tick();
      this.loadsSince.set(account, since);
      p = this.fetchView(account)
        .then((view) => {
          const entry = this.store(account, view, since);
          if (this.ambiguous(entry)) this.refresh(account);
          for (const ref of new Set([view.account, view.external_id])) this.prune(ref);
          return entry;
        })
        .catch(() => null)
        .finally(() => {
          this.loading.delete(account);
          this.loadsSince.delete(account);
          if (this.loading.size === 0) {
            for (const ref of this.heldForLoads) this.prune(ref);
            this.heldForLoads.clear();
          }
        });
      this.loading.set(account, p);
    }
    return p;
  }

  /** Refetches one cached account; coalesced, and repeated once if invalidated meanwhile. */
  refresh(key: string): Promise<void> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.refreshing) {
      entry.again = true;
      return entry.refreshing;
    }
    entry.refreshing = (async () => {
      do {
        entry.again = false;
        const since = this.tick();
        try {
          const view = await this.fetchView(key);
          this.rebase(entry, view, since);
          entry.fetchedAt = Date.now();
          entry.failed = false;
          entry.asked = new Map();
          entry.askedDenied = new Map();
          if (this.ambiguous(entry)) entry.again = true;
          for (const ref of new Set([view.account, view.external_id])) this.prune(ref);
        } catch (error) {
          entry.failed = true;
          this.emitError({
            kind: "refresh_failed",
            message: `Could not refresh ${key}; answering from the cache.`,
            detail: error,
          });
          return;
        }
      } while (entry.again);
    })().finally(() => {
      entry.refreshing = null;
    });
    return entry.refreshing;
  }

  /** Refetches everything cached. */
  refreshAll(): Promise<unknown> {
    return Promise.all([...this.entries.keys()].map((k) => this.refresh(k)));
  }

  /** Refetches what is cached of these accounts: the ones held, and when they are fresh (null: none held). */
  refreshAccounts(ids: readonly string[]): { held: string[]; refreshed: Promise<unknown> } | null {
    const held = ids.filter((id) => this.keysById.has(id));
    if (held.length === 0) return null;
    const refreshes = held.flatMap((id) =>
      [...(this.keysById.get(id) ?? [])].map((key) => this.refresh(key)),
    );
    return { held, refreshed: Promise.all(refreshes) };
  }

  private async fetchView(account: string): Promise<EntitlementsView> {
    const body = await this.transport.request(
      "GET",
      `/v1/entitlements?account=${encodeURIComponent(account)}`,
      undefined,
      { retries: 1 },
    );
    return EntitlementsView.parse(body);
  }

  private store(key: string, view: EntitlementsView, since: number): Entry {
    const entry: Entry = {
      base: view,
      view,
      uniques: null,
      since,
      fetchedAt: Date.now(),
      failed: false,
      refreshing: null,
      again: false,
      asked: new Map(),
      askedDenied: new Map(),
    };
    this.entries.set(key, entry);
    for (const [map, ref] of [
      [this.keysById, view.account],
      [this.keysByRef, view.account],
      [this.keysByRef, view.external_id],
    ] as const) {
      let keys = map.get(ref);
      if (!keys) {
        keys = new Set();
        map.set(ref, keys);
      }
      keys.add(key);
    }
    this.rebase(entry, view, since);
    return entry;
  }

  // ---- tracked usage on top of the snapshots ----------------------------------------------------

  private tick(): number {
    this.ticks += 1;
    return this.ticks;
  }

  /** Remembers a tracked event and applies it to the account's cached snapshots. */
  note(event: UsageEventInput, at: number): void {
    // The same id again: the server counts it once.
    if (!this.tracked.add(event, at)) return;
    for (const key of this.keysByRef.get(event.account) ?? []) {
      const entry = this.entries.get(key);
      // A server answer to a check denied here is stale once usage moves again.
      if (entry && applyTracked(entry, event, at) && entry.askedDenied.size > 0)
        entry.askedDenied = new Map();
    }
  }

  /** A batch is about to be sent: its events not sent before are sent at this tick. */
  sending(batch: readonly UsageEventInput[]): void {
    const sent = this.tick();
    for (const e of batch) {
      const t = this.tracked.find(e);
      if (t && t.sent === null) t.sent = sent;
    }
  }

  /** A new snapshot: the tracked events it does not count (all but those acknowledged before it was requested) go on top. */
  private rebase(entry: Entry, view: EntitlementsView, since: number): void {
    entry.base = view;
    entry.view = view;
    entry.uniques = null;
    entry.since = since;
    for (const t of this.tracked.of(view))
      if (t.acked === null || t.acked > since) applyTracked(entry, t.event, t.at);
  }

  /**
   * Whether the snapshot may or may not count an event already: it was requested after the event was
   * sent and before the server acknowledged it. The event stays on top (usage may read high, never
   * low) until a snapshot requested after the acknowledgement replaces it.
   */
  private ambiguous(entry: Entry): boolean {
    for (const t of this.tracked.of(entry.base))
      if (t.sent !== null && t.sent < entry.since && t.acked !== null && t.acked > entry.since) return true;
    return false;
  }

  /** Whether the account has tracked events the server has not acknowledged. */
  unacknowledged(view: EntitlementsView): boolean {
    for (const t of this.tracked.of(view)) if (t.acked === null) return true;
    return false;
  }

  /** The server answered a batch: counted (or already counted) events are acknowledged, rejected ones forgotten. */
  acknowledge(batch: readonly UsageEventInput[], response: EventsBatchResponse): void {
    const acked = this.tick();
    const refs = new Set<string>();
    /** a duplicate was counted before: any snapshot may count it, and no push will follow */
    const counted = new Set<string>();
    const rejected: UsageEventInput[] = [];
    for (const r of response.results) {
      const e = batch[r.index];
      if (!e) continue;
      if (r.status === "rejected") {
        rejected.push(e);
        continue;
      }
      const t = this.tracked.find(e);
      if (t && t.acked === null) t.acked = acked;
      refs.add(e.account);
      if (r.status === "duplicate") counted.add(e.account);
    }
    if (rejected.length > 0) this.forget(rejected);
    for (const ref of refs) {
      for (const key of this.keysByRef.get(ref) ?? []) {
        const entry = this.entries.get(key);
        if (!entry || this.closed) continue;
        // An ambiguous snapshot is asked for again (one in flight checks itself when it lands);
        // otherwise the push brings the server's count. Without a live push, an old snapshot is
        // refreshed too, so that the acknowledged events can go.
        if (
          counted.has(ref) ||
          (!entry.refreshing &&
            (this.ambiguous(entry) ||
              (!this.live && Date.now() - entry.fetchedAt > this.settings.staleAfterMs)))
        )
          this.refresh(key);
      }
      this.prune(ref);
    }
  }

  /** Forgets tracked events the server will not count (rejected, given up, dropped) and takes them off the cache. */
  forget(events: readonly UsageEventInput[]): void {
    for (const ref of this.tracked.remove(events))
      for (const key of this.keysByRef.get(ref) ?? []) {
        const entry = this.entries.get(key);
        if (entry) this.rebase(entry, entry.base, entry.since);
      }
  }

  /**
   * Drops the acknowledged events every snapshot of the account counts: those acknowledged before
   * the oldest of its snapshots, or of the loads in flight (which may be of the same account under
   * another reference), was requested.
   */
  private prune(ref: string): void {
    if (!this.tracked.has(ref)) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const key of this.keysByRef.get(ref) ?? []) {
      const entry = this.entries.get(key);
      if (entry) oldest = Math.min(oldest, entry.since);
    }
    for (const since of this.loadsSince.values()) oldest = Math.min(oldest, since);
    if (this.loadsSince.size > 0 && !this.keysByRef.has(ref)) this.heldForLoads.add(ref);
    this.tracked.dropAckedBefore(ref, oldest);
  }
}
