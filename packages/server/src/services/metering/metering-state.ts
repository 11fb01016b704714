// Over ~400 lines: the cache, the account directory and the log watcher share one invalidation
// state; the account directory is the part to move out next.
import {
  type AccountUsage,
  type BillingCycle,
  computeEntitlements,
  DEFAULT_TIMING,
  type EntitlementSubscription,
  type EntitlementsView,
  type MeterDefinition,
  meteringCycle,
  metersByEvent,
  type ResolvedCatalog,
  type SubscriptionShape,
  usageWindowAt,
} from "@uptier/core";
import { and, eq, gte, inArray, or, type SQL } from "drizzle-orm";
import type { Db, Executor, Tx } from "../../db/client.ts";
import { meterWindowTotal } from "../../db/queries/meter-window-total.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { accounts, usageCounters, usageGauges } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { currentCatalog } from "../catalog/apply.ts";
import type { Clock } from "../context.ts";
import { recordEvent } from "../events/append.ts";
import type { DomainEventLog, LoggedEvent } from "../events/log-reader.ts";
import { lastEndedSubscriptionOf, liveSubscriptionsOf } from "../subscriptions/records.ts";

/** Runs raw SQL and returns its rows, whichever driver is underneath (pg and PGlite both answer `rows`). */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

export interface MeteringOptions {
  /** late events count in their own period for this long (default 7 days) */
  readonly lateWindowMs: number;
  /** clock skew tolerated for future timestamps (default 5 minutes) */
  readonly futureToleranceMs: number;
  /** events for an account Uptier does not know: reject them, or create the account (by external id) */
  readonly unknownAccounts: "reject" | "create";
  /** how often the domain-event log is read for invalidations (default 100 ms) */
  readonly pollIntervalMs: number;
  /** a cached entitlement is recomputed at least this often, whatever happens (default 60 s) */
  readonly cacheTtlMs: number;
}

export const DEFAULT_METERING: MeteringOptions = {
  lateWindowMs: DEFAULT_TIMING.lateWindowMs,
  futureToleranceMs: DEFAULT_TIMING.futureToleranceMs,
  unknownAccounts: "reject",
  pollIntervalMs: 100,
  cacheTtlMs: 60_000,
};

export interface AccountRef {
  readonly id: string;
  readonly externalId: string;
}

export interface CatalogSnapshot {
  readonly version: number;
  readonly catalog: ResolvedCatalog;
  readonly meters: Readonly<Record<string, MeterDefinition>>;
  readonly byEvent: ReturnType<typeof metersByEvent>;
}

export interface Profile {
  readonly account: AccountRef;
  /** the live subscription, its cycle ending at its cancel_at when one is scheduled */
  readonly subscription: EntitlementSubscription | null;
  readonly shape: SubscriptionShape | null;
  /** with no live subscription, the cycle of the one that ended last, ending at its end */
  readonly ended: BillingCycle | null;
  readonly expiresAt: number;
}

export interface Computed {
  readonly profile: Profile;
  readonly usage: AccountUsage;
  readonly view: EntitlementsView;
  readonly expiresAt: number;
}

/** What changed, as the SDK stream and the cache see it. */
export type Invalidation = { readonly accounts: readonly string[] } | { readonly all: true };

interface Entry {
  gen: number;
  profile?: Promise<Profile> | undefined;
  profileValue?: Profile | undefined;
  computed?: Promise<Computed> | undefined;
  computedValue?: Computed | undefined;
}

/** Domain events that change nothing an entitlement is computed from. */
const NOT_STATE_CHANGES = new Set(["entitlement.denied"]);
/** Domain events that change usage only (the plan part of the cache stays). */
const USAGE_ONLY = /^(usage\.|member\.)/;

const MAX_REFS = 200_000;

/**
 * The server's in-memory entitlement cache, the account-reference directory and the watcher of the
 * domain-event log that invalidates them. Checks are answered from memory; any committed change —
 * in this process or another node — reaches the cache through the outbox (domain_events) within a
 * poll interval, and this process's own writes invalidate it at once. A TTL and the instant at
 * which a usage window or the billing period ends bound the age of any entry.
 */
export class MeteringState {
  readonly options: MeteringOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly refs = new Map<string, AccountRef>();
  private catalogPromise: Promise<CatalogSnapshot | null> | null = null;
  private catalogValue: CatalogSnapshot | null = null;
  private readonly listeners = new Set<(change: Invalidation) => void>();

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    options: Partial<MeteringOptions> = {},
  ) {
    this.options = { ...DEFAULT_METERING, ...options };
  }

  // ---- the catalog ----------------------------------------------------------------------------

  async catalog(db: Executor = this.db): Promise<CatalogSnapshot | null> {
    if (this.catalogValue) return this.catalogValue;
    if (!this.catalogPromise || db !== this.db) {
      if (db !== this.db) return snapshotOf(await currentCatalog(db));
      const p = currentCatalog(this.db).then((current) => {
        const snapshot = snapshotOf(current);
        if (this.catalogPromise === p) this.catalogValue = snapshot;
        return snapshot;
      });
      this.catalogPromise = p;
      p.catch(() => {
        if (this.catalogPromise === p) this.catalogPromise = null;
      });
    }
    return this.catalogPromise;
  }

  // ---- accounts by id or external id --------------------------------------------------------------

  /** The account a reference names, when the directory already knows it (no await: the check's fast path). */
  knownAccount(ref: string): AccountRef | undefined {
    return this.refs.get(ref);
  }

  /**
   * The account's entitlements when cached and still fresh at `at` (no await: the check's fast path),
   * else undefined.
   */
  cachedEntitlements(account: AccountRef, at: Date): Computed | undefined {
    const cached = this.entries.get(account.id)?.computedValue;
    return cached !== undefined && cached.expiresAt > at.getTime() ? cached : undefined;
  }

  /** The catalog when loaded (no await), else undefined: then call catalog(). */
  get loadedCatalog(): CatalogSnapshot | null | undefined {
    return this.catalogValue ?? undefined;
  }

  /** Resolves account references (acct_… ids or external ids); unknown ones are absent from the map. */
  async resolveAccounts(db: Executor, refs: Iterable<string>): Promise<Map<string, AccountRef>> {
    const found = new Map<string, AccountRef>();
    const missing: string[] = [];
    for (const ref of new Set(refs)) {
      const hit = this.refs.get(ref);
      if (hit) found.set(ref, hit);
      else missing.push(ref);
    }
    if (missing.length === 0) return found;
    const rows = await db
      .select({ id: accounts.id, externalId: accounts.externalId })
      .from(accounts)
      .where(or(inArray(accounts.id, missing), inArray(accounts.externalId, missing)));
    if (this.refs.size > MAX_REFS) this.refs.clear();
    for (const ref of missing) {
      // An id match wins over an external-id match.
      const row = rows.find((r) => r.id === ref) ?? rows.find((r) => r.externalId === ref);
      if (!row) continue;
      found.set(ref, row);
      this.refs.set(ref, row);
    }
    return found;
  }

  /** Creates accounts for unknown external ids (the auto-create policy), in the caller's transaction. */
  async createAccounts(tx: Tx, externalIds: readonly string[], at: Date): Promise<Map<string, AccountRef>> {
    const created = new Map<string, AccountRef>();
    const sorted = [...new Set(externalIds)].sort();
    if (sorted.length === 0) return created;
    const inserted = await tx
      .insert(accounts)
      .values(
        sorted.map((externalId) => ({
          id: newId("account", at),
          externalId,
          name: externalId,
          properties: { created_by: "usage_event" },
          createdAt: at,
          updatedAt: at,
        })),
      )
      .onConflictDoNothing({ target: accounts.externalId })
      .returning({ id: accounts.id, externalId: accounts.externalId });
    for (const row of inserted) {
      created.set(row.externalId, row);
      await recordEvent(tx, {
        type: "account.created",
        accountId: row.id,
        data: { external_id: row.externalId, name: row.externalId, created_by: "usage_event" },
        at,
      });
    }
    // Created concurrently by another request: read them.
    const raced = sorted.filter((e) => !created.has(e));
    if (raced.length > 0) {
      const rows = await tx
        .select({ id: accounts.id, externalId: accounts.externalId })
        .from(accounts)
        .where(inArray(accounts.externalId, raced));
      for (const row of rows) created.set(row.externalId, row);
    }
    return created;
  }

  // ---- per-account state ------------------------------------------------------------------------

  private entry(accountId: string): Entry {
    let e = this.entries.get(accountId);
    if (!e) {
      e = { gen: 0 };
      this.entries.set(accountId, e);
    }
    return e;
  }

  /**
   * The account's live subscription as the cache knows it (plan, add-ons, billing cycle), or the
   * cycle of the one that ended last: usage is counted by it (core's meteringCycle).
   */
  async profile(account: AccountRef, db: Executor = this.db): Promise<Profile> {
    const e = this.entry(account.id);
    const now = this.clock().getTime();
    if (e.profileValue && e.profileValue.expiresAt > now) return e.profileValue;
    // Inside a transaction: read through it, and do not cache what may yet roll back.
    if (db !== this.db) return this.loadProfile(account, db);
    if (!e.profile || (e.profileValue && e.profileValue.expiresAt <= now)) {
      const gen = e.gen;
      const p = this.loadProfile(account);
      e.profile = p;
      e.profileValue = undefined;
      p.then(
        (value) => {
          if (e.gen === gen && e.profile === p) e.profileValue = value;
        },
        () => {
          if (e.profile === p) e.profile = undefined;
        },
      );
    }
    return e.profile;
  }

  private async loadProfile(account: AccountRef, db: Executor = this.db): Promise<Profile> {
    const at = this.clock();
    const live = (await liveSubscriptionsOf(db, [account.id], at)).get(account.id);
    const ttl = at.getTime() + this.options.cacheTtlMs;
    if (!live) {
      // A late event from before the end still belongs to the ended subscription's period, and
      // usage after the end to none of its periods: both follow from its cycle and end.
      const ended = await lastEndedSubscriptionOf(db, account.id, at);
      return {
        account,
        subscription: null,
        shape: null,
        ended: ended && {
          anchor: ended.row.billingCycleAnchor,
          interval: ended.row.interval as BillingCycle["interval"],
          endsAt: ended.endedAt,
        },
        expiresAt: ttl,
      };
    }
    const { row, state, shape } = live;
    const ends = [state.currentPeriodEnd, row.cancelAt, row.trialEnd]
      .filter((d): d is Date => d !== null && d.getTime() > at.getTime())
      .map((d) => d.getTime());
    return {
      account,
      shape,
      subscription: {
        status: state.status,
        shape,
        cycle: { anchor: row.billingCycleAnchor, interval: shape.interval, endsAt: row.cancelAt },
        currentPeriodEnd: state.currentPeriodEnd,
        currency: row.currency,
      },
      ended: null,
      expiresAt: Math.min(ttl, ...ends),
    };
  }

  /**
   * The account's entitlements now, from the cache or computed afresh. Inside a transaction pass it
   * as `db`: a stale entry is then recomputed through it (and not cached, as in profile()). Never
   * wait on the database itself while holding a transaction: on PostgreSQL that waits for a second
   * pool client, and when every client is held by such a transaction none is ever freed (a hang);
   * on PGlite, one connection, it waits for the transaction itself.
   */
  async entitlements(account: AccountRef, db: Executor = this.db): Promise<Computed> {
    const e = this.entry(account.id);
    const now = this.clock().getTime();
    const cached = e.computedValue;
    if (cached && cached.expiresAt > now) return cached;
    if (db !== this.db) return this.compute(account, db);
    if (!e.computed || (cached && cached.expiresAt <= now)) {
      const gen = e.gen;
      const p = this.compute(account);
      e.computed = p;
      e.computedValue = undefined;
      p.then(
        (value) => {
          if (e.gen === gen && e.computed === p) e.computedValue = value;
        },
        () => {
          if (e.computed === p) e.computed = undefined;
        },
      );
    }
    return e.computed;
  }

  private async compute(account: AccountRef, db: Executor = this.db): Promise<Computed> {
    const [snapshot, profile] = await Promise.all([this.catalog(db), this.profile(account, db)]);
    const at = this.clock();
    const usage = await this.loadUsage(db, account.id, profile, snapshot, at);
    return this.assemble(profile, snapshot, usage, at);
  }

  /** Computes entitlements from given usage (the record path reads usage under a lock, then calls this). */
  assemble(profile: Profile, snapshot: CatalogSnapshot | null, usage: AccountUsage, at: Date): Computed {
    const view = computeEntitlements({
      account: profile.account,
      features: snapshot?.catalog.features ?? {},
      meters: snapshot?.meters ?? {},
      subscription: profile.subscription,
      ended: profile.ended,
      usage,
      at,
    });
    const validUntil = view.valid_until ? Date.parse(view.valid_until) : Number.POSITIVE_INFINITY;
    return { profile, usage, view, expiresAt: Math.min(profile.expiresAt, validUntil) };
  }

  /** Meter totals in each meter's current window, reported gauges and seats in use. */
  async loadUsage(
    db: Executor,
    accountId: string,
    profile: Profile,
    snapshot: CatalogSnapshot | null,
    at: Date,
  ): Promise<AccountUsage> {
    const windows = Object.entries(snapshot?.meters ?? {}).map(([key, meter]) => ({
      key,
      start: usageWindowAt(meter.reset, meteringCycle(profile), at).start,
    }));
    const earliest = windows.reduce<Date | null>((m, w) => (m && m < w.start ? m : w.start), null);
    const [counterRows, gaugeRows, seats] = await Promise.all([
      windows.length === 0 || !earliest
        ? Promise.resolve([])
        : db
            .select({
              meter: usageCounters.meter,
              start: usageCounters.periodStart,
              value: meterWindowTotal(usageCounters.aggregation, usageCounters.value),
            })
            .from(usageCounters)
            .where(
              and(
                eq(usageCounters.accountId, accountId),
                inArray(
                  usageCounters.meter,
                  windows.map((w) => w.key),
                ),
                gte(usageCounters.periodStart, earliest),
              ),
            )
            .groupBy(usageCounters.meter, usageCounters.periodStart),
      db
        .select({ feature: usageGauges.feature, value: usageGauges.value })
        .from(usageGauges)
        .where(eq(usageGauges.accountId, accountId)),
      seatsInUse(db, accountId),
    ]);
    const meters: Record<string, number> = {};
    for (const w of windows) {
      const row = counterRows.find((r) => r.meter === w.key && r.start.getTime() === w.start.getTime());
      meters[w.key] = row ? Number(row.value) : 0;
    }
    const gauges: Record<string, number> = {};
    for (const g of gaugeRows) gauges[g.feature] = Number(g.value);
    return { meters, gauges, seats };
  }

  // ---- invalidation ---------------------------------------------------------------------------

  /** Drops what an account's change made stale, and tells the SDK streams. */
  invalidate(accountIds: Iterable<string>, scope: "usage" | "all" = "all"): void {
    const list: string[] = [];
    for (const id of accountIds) {
      list.push(id);
      const e = this.entries.get(id);
      if (!e) continue;
      e.gen += 1;
      e.computed = undefined;
      e.computedValue = undefined;
      if (scope === "all") {
        e.profile = undefined;
        e.profileValue = undefined;
      }
    }
    if (list.length > 0) this.emit({ accounts: list });
  }

  invalidateEverything(): void {
    for (const e of this.entries.values()) e.gen += 1;
    this.entries.clear();
    this.catalogPromise = null;
    this.catalogValue = null;
    this.emit({ all: true });
  }

  subscribe(listener: (change: Invalidation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: Invalidation): void {
    for (const listener of this.listeners) listener(change);
  }

  /**
   * Follows the domain-event log: each committed change drops what it made stale (a catalog
   * applied: everything; usage and members: the usage part of the account's entry).
   */
  follow(log: DomainEventLog): () => void {
    return log.subscribe((events) => this.onEvents(events));
  }

  private onEvents(events: readonly LoggedEvent[]): void {
    const usage = new Set<string>();
    const all = new Set<string>();
    for (const event of events) {
      if (NOT_STATE_CHANGES.has(event.type)) continue;
      if (event.type === "catalog.applied") {
        this.invalidateEverything();
        return;
      }
      const touched = event.account
        ? [event.account]
        : event.type === "usage.recorded"
          ? event.data.accounts
          : [];
      for (const id of touched) (USAGE_ONLY.test(event.type) ? usage : all).add(id);
    }
    for (const id of all) usage.delete(id);
    if (all.size > 0) this.invalidate(all, "all");
    if (usage.size > 0) this.invalidate(usage, "usage");
  }

  close(): void {
    this.listeners.clear();
  }
}

function snapshotOf(current: { version: number; catalog: ResolvedCatalog } | null): CatalogSnapshot | null {
  return current
    ? {
        version: current.version,
        catalog: current.catalog,
        meters: current.catalog.meters,
        byEvent: metersByEvent(current.catalog.meters),
      }
    : null;
}
