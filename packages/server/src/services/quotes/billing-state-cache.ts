import type { AddOnOnSale, PlanOnSale } from "../catalog/on-sale.ts";

/**
 * What a quote is priced from — the account's live subscription with its pinned versions, the seats
 * in use, the credit balance, the downgrade policy and the period's history — kept in memory per
 * account, as the entitlement cache keeps what a check needs. A quote is a preview: the checkout
 * re-reads and re-prices everything under the subscription's row lock and refuses a quote that no
 * longer matches (quote_stale), so a cached setup can never make a wrong charge, only a stale quote.
 *
 * Freshness is the entitlement cache's: every committed change that a price depends on writes a
 * domain event for its account, and the domain-event watcher (MeteringState) drops that account's
 * entry — at once for this process's own writes (read-your-writes), within a poll interval for other
 * nodes'. A setup is also only used inside the window of time on which it cannot change by itself (no
 * period, trial or cancellation boundary, no scheduled change falling due), and for at most `ttlMs`.
 */
export interface CachedSetup<Setup> {
  readonly setup: Setup;
  /** the setup holds for instants in [validFrom, validUntil) */
  readonly validFrom: number;
  readonly validUntil: number;
}

/** The catalog's plans and add-ons at their current versions, by key. */
export interface CatalogOnSale {
  readonly plans: ReadonlyMap<string, PlanOnSale>;
  readonly addOns: ReadonlyMap<string, AddOnOnSale>;
}

interface Entry<Setup> {
  value?: CachedSetup<Setup> | undefined;
  expiresAt: number;
  loading?: Promise<CachedSetup<Setup>> | undefined;
}

const MAX_ACCOUNTS = 100_000;

export class BillingStateCache<Setup> {
  private readonly entries = new Map<string, Entry<Setup>>();
  private catalog: Promise<CatalogOnSale> | null = null;

  constructor(
    private readonly loadSetup: (accountId: string, at: Date) => Promise<CachedSetup<Setup>>,
    private readonly loadCatalog: () => Promise<CatalogOnSale>,
    private readonly ttlMs = 60_000,
  ) {}

  async setup(accountId: string, at: Date): Promise<Setup> {
    const t = at.getTime();
    let entry = this.entries.get(accountId);
    if (entry?.value && covers(entry.value, t) && Date.now() < entry.expiresAt) return entry.value.setup;
    if (!entry) {
      if (this.entries.size >= MAX_ACCOUNTS) this.entries.clear();
      entry = { expiresAt: 0 };
      this.entries.set(accountId, entry);
    }
    // Concurrent requests for one account share one load; an invalidation replaces the entry, so a
    // request that arrives after a write never joins a load that started before it.
    const current = entry;
    const loading =
      current.loading ??
      this.loadSetup(accountId, at).finally(() => {
        if (current.loading === loading) current.loading = undefined;
      });
    current.loading = loading;
    const loaded = await loading;
    current.value = loaded;
    current.expiresAt = Date.now() + this.ttlMs;
    if (covers(loaded, t)) return loaded.setup;
    // a request whose clock lies outside the shared load's window (a boundary between the two)
    return (await this.loadSetup(accountId, at)).setup;
  }

  /** The catalog on sale; `reload` reads it again (a key it did not know may have been added). */
  onSale(reload = false): Promise<CatalogOnSale> {
    if (!this.catalog || reload) {
      const loading = this.loadCatalog();
      this.catalog = loading;
      loading.catch(() => {
        if (this.catalog === loading) this.catalog = null;
      });
    }
    return this.catalog;
  }

  invalidate(accountIds: Iterable<string>): void {
    for (const id of accountIds) this.entries.delete(id);
  }

  invalidateAll(): void {
    this.entries.clear();
    this.catalog = null;
  }
}

const covers = (cached: CachedSetup<unknown>, t: number) => cached.validFrom <= t && t < cached.validUntil;
