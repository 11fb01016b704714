import { randomUUID } from "node:crypto";
import {
  type CheckReason,
  type CheckResult,
  checkResultOf,
  decideCheck,
  EntitlementsView,
  type EventsBatchResponse,
  MAX_BATCH_EVENTS,
  type UsageEventInput,
} from "@uptier/core";
import { applyTracked, type CachedUsage } from "./optimistic.ts";
import { EventStream } from "./stream.ts";

export interface UptierOptions {
  /** a secret key (sk_…) */
  readonly apiKey: string;
  /** default http://127.0.0.1:4000 */
  readonly baseUrl?: string;
  /** send a batch when this many events are queued (default 100, at most 1,000) */
  readonly flushAt?: number;
  /** …or this long after the first one was queued (default 1,000 ms) */
  readonly flushIntervalMs?: number;
  /** events kept while the server is unreachable; beyond it the oldest are dropped (default 10,000) */
  readonly maxQueueSize?: number;
  /** attempts per request before giving up (default 6) */
  readonly maxRetries?: number;
  /** backoff: base × 2^attempt, capped, with full jitter (defaults 100 ms and 5 s) */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly requestTimeoutMs?: number;
  /**
   * With the server unreachable and nothing cached for the account: "closed" (default) denies,
   * "open" allows. Either way the answer says so (source "fallback").
   */
  readonly failMode?: "open" | "closed";
  /** keep the cache fresh by Server-Sent Events (default true); otherwise refresh entitlements older than staleAfterMs */
  readonly stream?: boolean;
  /** without a live stream, cached entitlements older than this are refreshed and reported stale (default 5 s) */
  readonly staleAfterMs?: number;
  readonly onError?: (error: UptierError) => void;
  readonly fetch?: typeof fetch;
}

export interface UptierError {
  readonly kind: "delivery_failed" | "events_rejected" | "queue_overflow" | "stream_down" | "refresh_failed";
  readonly message: string;
  readonly detail?: unknown;
}

export interface TrackEvent {
  readonly account: string;
  readonly event: string;
  readonly user?: string;
  readonly properties?: Record<string, unknown>;
  readonly timestamp?: Date | string;
  /** your id for the event; generated when absent, once, so a retry stays idempotent */
  readonly id?: string;
}

/** A check answer: the server's shape, plus where it came from and how fresh it is. */
export interface Check extends Omit<CheckResult, "reason"> {
  readonly reason: CheckReason | "server_unreachable";
  /** cache: decided locally; server: asked the server (denied or near the limit); fallback: no data */
  readonly source: "cache" | "server" | "fallback";
  /** the answer may be out of date: the push channel is down or the last refresh failed */
  readonly stale: boolean;
  /** how old the entitlements it was decided on are, in ms (null for fallback) */
  readonly ageMs: number | null;
}

interface Entry extends CachedUsage {
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
 * A tracked event that a cached snapshot may not count yet. Ticks order requests: a snapshot
 * requested after the server acknowledged an event counts it; one requested before the event was
 * sent does not; one requested in between may or may not, and is requested again after the ack.
 */
interface Tracked {
  readonly event: UsageEventInput;
  /** the event's timestamp in ms */
  readonly at: number;
  /** the tick its first delivery was sent at; null while queued */
  sent: number | null;
  /** the tick the server acknowledged it at (counted now or before); null until then */
  acked: number | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterMs: number | null,
  ) {
    super(`Uptier answered ${status}`);
  }
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });

/**
 * Uptier's Node client: track() with batching and idempotent retries, and check() answered from a
 * local cache of each account's entitlements, kept fresh by the server's push channel (SSE) and
 * decided by the same function the server uses (@uptier/core's decideCheck).
 */
/** A cached answer: the server's shape (built by core), marked with where it came from and its age. */
function fromCache(result: CheckResult, stale: boolean, ageMs: number): Check {
  // Assigned rather than spread: a spread here costs this hot path an order of magnitude.
  const check = result as CheckResult & { source: "cache"; stale: boolean; ageMs: number };
  check.source = "cache";
  check.stale = stale;
  check.ageMs = ageMs;
  return check as Check;
}

export class Uptier {
  private readonly options: Required<Omit<UptierOptions, "onError" | "fetch">> &
    Pick<UptierOptions, "onError">;
  private readonly fetchImpl: typeof fetch;
  private readonly cache = new Map<string, Entry>();
  /** Uptier account id → the keys (id or external id) its entitlements are cached under */
  private readonly keysById = new Map<string, Set<string>>();
  /** account id and external id → the keys its entitlements are cached under (tracked events name either) */
  private readonly keysByRef = new Map<string, Set<string>>();
  private readonly loading = new Map<string, Promise<Entry | null>>();
  /** the ticks at which the loads in flight were requested */
  private readonly loadsSince = new Map<string, number>();
  /** tracked events until a cached snapshot counts them, by account reference as tracked, then id */
  private readonly tracked = new Map<string, Map<string, Tracked>>();
  /** references whose acknowledged events are kept only because a load was in flight */
  private readonly heldForLoads = new Set<string>();
  private ticks = 0;
  private queue: UsageEventInput[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stream: EventStream | null = null;
  private live = false;
  private closed = false;
  private readonly changeListeners = new Set<(accounts: readonly string[] | "all") => void>();

  constructor(options: UptierOptions) {
    const merged = {
      baseUrl: "http://127.0.0.1:4000",
      flushAt: 100,
      flushIntervalMs: 1000,
      maxQueueSize: 10_000,
      maxRetries: 6,
      retryBaseMs: 100,
      retryMaxMs: 5000,
      requestTimeoutMs: 10_000,
      failMode: "closed" as "open" | "closed",
      stream: true,
      staleAfterMs: 5000,
      ...options,
    };
    this.options = { ...merged, flushAt: Math.min(Math.max(1, merged.flushAt), MAX_BATCH_EVENTS) };
    this.fetchImpl = options.fetch ?? fetch;
    if (this.options.stream) {
      this.stream = new EventStream({
        url: `${this.options.baseUrl}/v1/entitlements/stream`,
        headers: this.headers(),
        fetch: this.fetchImpl,
        onOpen: () => {
          // Anything may have changed while we were away: refresh what we hold.
          const wasDown = !this.live;
          this.live = true;
          if (wasDown) for (const key of this.cache.keys()) this.refresh(key);
        },
        onDown: (error) => {
          if (this.live)
            this.emitError({
              kind: "stream_down",
              message: "The push channel is down; answers are marked stale.",
              detail: error,
            });
          this.live = false;
        },
        onMessage: (message) => this.onPush(message.event, message.data),
      });
      this.stream.start();
    }
  }

  /** Whether the push channel is connected (cached answers are then fresh within about a second). */
  get connected(): boolean {
    return this.live;
  }

  /** Called with the account ids whose entitlements changed (or "all"), after the cache refreshed them. */
  onChange(listener: (accounts: readonly string[] | "all") => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  // ---- track ------------------------------------------------------------------------------------

  /**
   * Queues a usage event and returns its id. Sent in batches; retried with the same id. The cached
   * usage of the meters that count it moves at once (the server's count replaces it when it comes).
   */
  track(event: TrackEvent): string {
    if (this.closed) throw new Error("this Uptier client is closed");
    const id = event.id ?? `evt_${randomUUID()}`;
    const timestamp =
      event.timestamp === undefined
        ? new Date().toISOString()
        : typeof event.timestamp === "string"
          ? event.timestamp
          : event.timestamp.toISOString();
    const input: UsageEventInput = {
      id,
      account: event.account,
      event: event.event,
      ...(event.user ? { user: event.user } : {}),
      timestamp,
      properties: event.properties ?? {},
    };
    this.queue.push(input);
    this.note(input, Date.parse(timestamp));
    if (this.queue.length > this.options.maxQueueSize) {
      const dropped = this.queue.splice(0, this.queue.length - this.options.maxQueueSize);
      this.forget(dropped);
      this.emitError({
        kind: "queue_overflow",
        message: `Dropped ${dropped.length} events: the queue is full.`,
        detail: dropped,
      });
    }
    if (this.queue.length >= this.options.flushAt) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.options.flushIntervalMs);
      this.timer.unref();
    }
    return id;
  }

  /** Sends everything queued; resolves when the queue is empty (or its events were given up). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    this.flushing = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.flushAt);
        await this.deliver(batch);
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Sends one batch, retrying network failures, 5xx and 429 with jittered backoff; ids never change. */
  private async deliver(batch: UsageEventInput[]): Promise<void> {
    const sent = this.tick();
    for (const e of batch) {
      const t = this.tracked.get(e.account)?.get(e.id);
      if (t && t.sent === null) t.sent = sent;
    }
    try {
      const response = (await this.request(
        "POST",
        "/v1/events",
        { events: batch },
        { retries: this.options.maxRetries },
      )) as EventsBatchResponse;
      this.acknowledge(batch, response);
      const rejected = response.results.filter((r) => r.status === "rejected");
      if (rejected.length > 0)
        this.emitError({
          kind: "events_rejected",
          message: `${rejected.length} events were rejected.`,
          detail: rejected,
        });
    } catch (error) {
      // Given up: the server will not count them (a lost answer to a counted batch is corrected by its push).
      this.forget(batch);
      this.emitError({
        kind: "delivery_failed",
        message: `Gave up on ${batch.length} events.`,
        detail: { error, events: batch },
      });
    }
  }

  // ---- check ------------------------------------------------------------------------------------

  /**
   * May the account use the feature (quantity more of it)? Decided from the local cache; a denied or
   * near-limit answer is confirmed by the server (which records the denial as a signal and names the
   * cheapest upgrade). Nothing cached and the server unreachable: the fail mode decides, visibly.
   */
  async check(account: string, feature: string, options: { quantity?: number } = {}): Promise<Check> {
    const quantity = options.quantity ?? 1;
    const entry = this.cache.get(account) ?? (await this.load(account));
    if (!entry) return this.fallback(account, feature);
    const now = Date.now();
    const ageMs = now - entry.fetchedAt;
    if (!this.live && ageMs > this.options.staleAfterMs) this.refresh(account);
    const stale = entry.failed || (!this.live && ageMs > this.options.staleAfterMs);
    const view = entry.view;
    const entitlement = Object.hasOwn(view.features, feature) ? view.features[feature] : undefined;
    const decision = decideCheck(entitlement, view.active, quantity);
    if (decision.allowed && !decision.nearLimit)
      return fromCache(checkResultOf(view.account, feature, decision, null, false), stale, ageMs);
    // Denied or near the limit: the server confirms it (and names the upgrade), answering each
    // question once until the next refresh — or, for a denial, until tracked usage moves again.
    const denied = !decision.allowed;
    const key = `${feature}\u0000${quantity}`;
    let asked = (denied ? entry.askedDenied : entry.asked).get(key);
    if (!asked) {
      // Usage tracked here and not yet counted by the server is sent first, or the server would
      // answer without it (and overturn a denial it caused).
      const usage = decision.reason === "limit_reached" || decision.allowed;
      if (usage && this.unacknowledged(view) && !(await this.flushWithin(this.options.requestTimeoutMs)))
        return fromCache(checkResultOf(view.account, feature, decision, null, false), true, ageMs);
      const memo = denied ? entry.askedDenied : entry.asked;
      asked = memo.get(key);
      if (!asked) {
        asked = (
          this.request(
            "POST",
            "/v1/check",
            { account: view.account, feature, quantity },
            { retries: 1 },
          ) as Promise<CheckResult>
        ).catch(() => {
          memo.delete(key);
          return null;
        });
        memo.set(key, asked);
      }
    }
    const server = await asked;
    if (server) return { ...server, source: "server", stale: false, ageMs };
    return fromCache(checkResultOf(view.account, feature, decision, null, false), true, ageMs);
  }

  /**
   * The account's cached entitlements (fetched if absent), with the events tracked here and not yet
   * counted by the server applied; null when the server is unreachable.
   */
  async entitlements(account: string): Promise<EntitlementsView | null> {
    return (this.cache.get(account) ?? (await this.load(account)))?.view ?? null;
  }

  private fallback(account: string, feature: string): Check {
    return {
      object: "check",
      account,
      feature,
      allowed: this.options.failMode === "open",
      kind: null,
      limit: null,
      used: null,
      remaining: null,
      ratio: null,
      resetsAt: null,
      reason: "server_unreachable",
      upgrade: null,
      recorded: false,
      source: "fallback",
      stale: true,
      ageMs: null,
    };
  }

  private async fetchView(account: string): Promise<EntitlementsView> {
    const body = await this.request(
      "GET",
      `/v1/entitlements?account=${encodeURIComponent(account)}`,
      undefined,
      { retries: 1 },
    );
    return EntitlementsView.parse(body);
  }

  private load(account: string): Promise<Entry | null> {
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
    this.cache.set(key, entry);
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

  /** The tracked events of the account a snapshot is of (tracked by its id or its external id). */
  private *trackedFor(view: EntitlementsView): Generator<Tracked> {
    yield* this.tracked.get(view.account)?.values() ?? [];
    if (view.external_id !== view.account) yield* this.tracked.get(view.external_id)?.values() ?? [];
  }

  /** Remembers a tracked event and applies it to the account's cached snapshots. */
  private note(event: UsageEventInput, at: number): void {
    let byId = this.tracked.get(event.account);
    // The same id again: the server counts it once.
    if (byId?.has(event.id)) return;
    if (!byId) {
      byId = new Map();
      this.tracked.set(event.account, byId);
    }
    byId.set(event.id, { event, at, sent: null, acked: null });
    for (const key of this.keysByRef.get(event.account) ?? []) {
      const entry = this.cache.get(key);
      // A server answer to a check denied here is stale once usage moves again.
      if (entry && applyTracked(entry, event, at) && entry.askedDenied.size > 0)
        entry.askedDenied = new Map();
    }
  }

  /** A new snapshot: the tracked events it does not count (all but those acknowledged before it was requested) go on top. */
  private rebase(entry: Entry, view: EntitlementsView, since: number): void {
    entry.base = view;
    entry.view = view;
    entry.uniques = null;
    entry.since = since;
    for (const t of this.trackedFor(view))
      if (t.acked === null || t.acked > since) applyTracked(entry, t.event, t.at);
  }

  /**
   * Whether the snapshot may or may not count an event already: it was requested after the event was
   * sent and before the server acknowledged it. The event stays on top (usage may read high, never
   * low) until a snapshot requested after the acknowledgement replaces it.
   */
  private ambiguous(entry: Entry): boolean {
    for (const t of this.trackedFor(entry.base))
      if (t.sent !== null && t.sent < entry.since && t.acked !== null && t.acked > entry.since) return true;
    return false;
  }

  /** Whether the account has tracked events the server has not acknowledged. */
  private unacknowledged(view: EntitlementsView): boolean {
    for (const t of this.trackedFor(view)) if (t.acked === null) return true;
    return false;
  }

  /** The server answered a batch: counted (or already counted) events are acknowledged, rejected ones forgotten. */
  private acknowledge(batch: readonly UsageEventInput[], response: EventsBatchResponse): void {
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
      const t = this.tracked.get(e.account)?.get(e.id);
      if (t && t.acked === null) t.acked = acked;
      refs.add(e.account);
      if (r.status === "duplicate") counted.add(e.account);
    }
    if (rejected.length > 0) this.forget(rejected);
    for (const ref of refs) {
      for (const key of this.keysByRef.get(ref) ?? []) {
        const entry = this.cache.get(key);
        if (!entry || this.closed) continue;
        // An ambiguous snapshot is asked for again (one in flight checks itself when it lands);
        // otherwise the push brings the server's count. Without a live push, an old snapshot is
        // refreshed too, so that the acknowledged events can go.
        if (
          counted.has(ref) ||
          (!entry.refreshing &&
            (this.ambiguous(entry) ||
              (!this.live && Date.now() - entry.fetchedAt > this.options.staleAfterMs)))
        )
          this.refresh(key);
      }
      this.prune(ref);
    }
  }

  /** Forgets tracked events the server will not count (rejected, given up, dropped) and takes them off the cache. */
  private forget(events: readonly UsageEventInput[]): void {
    const refs = new Set<string>();
    for (const e of events) {
      const byId = this.tracked.get(e.account);
      if (!byId?.delete(e.id)) continue;
      refs.add(e.account);
      if (byId.size === 0) this.tracked.delete(e.account);
    }
    for (const ref of refs)
      for (const key of this.keysByRef.get(ref) ?? []) {
        const entry = this.cache.get(key);
        if (entry) this.rebase(entry, entry.base, entry.since);
      }
  }

  /**
   * Drops the acknowledged events every snapshot of the account counts: those acknowledged before
   * the oldest of its snapshots, or of the loads in flight (which may be of the same account under
   * another reference), was requested.
   */
  private prune(ref: string): void {
    const byId = this.tracked.get(ref);
    if (!byId) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const key of this.keysByRef.get(ref) ?? []) {
      const entry = this.cache.get(key);
      if (entry) oldest = Math.min(oldest, entry.since);
    }
    for (const since of this.loadsSince.values()) oldest = Math.min(oldest, since);
    if (this.loadsSince.size > 0 && !this.keysByRef.has(ref)) this.heldForLoads.add(ref);
    for (const [id, t] of byId) if (t.acked !== null && t.acked < oldest) byId.delete(id);
    if (byId.size === 0) this.tracked.delete(ref);
  }

  /** Sends what is queued, waiting at most `ms`; true when it was sent (or given up). */
  private async flushWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref?.();
    });
    try {
      return await Promise.race([this.flush().then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Refetches one cached account; coalesced, and repeated once if invalidated meanwhile. */
  private refresh(key: string): Promise<void> | undefined {
    const entry = this.cache.get(key);
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

  private onPush(event: string | undefined, data: string): void {
    if (event === "reset") {
      void Promise.all([...this.cache.keys()].map((k) => this.refresh(k))).then(() => this.emitChange("all"));
      return;
    }
    if (event !== "invalidate") return;
    let accounts: string[] = [];
    try {
      accounts = (JSON.parse(data) as { accounts?: string[] }).accounts ?? [];
    } catch {
      return;
    }
    const held = accounts.filter((id) => this.keysById.has(id));
    if (held.length === 0) return;
    const refreshes = held.flatMap((id) =>
      [...(this.keysById.get(id) ?? [])].map((key) => this.refresh(key)),
    );
    void Promise.all(refreshes).then(() => this.emitChange(held));
  }

  private emitChange(accounts: readonly string[] | "all"): void {
    for (const listener of this.changeListeners) listener(accounts);
  }

  private emitError(error: UptierError): void {
    this.options.onError?.(error);
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.options.apiKey}` };
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    { retries }: { retries: number },
  ): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.fetchImpl(`${this.options.baseUrl}${path}`, {
          method,
          headers: {
            ...this.headers(),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.options.requestTimeoutMs),
        });
        const json = await response.json().catch(() => null);
        if (response.ok) return json;
        const retryAfter = Number(response.headers.get("retry-after"));
        throw new HttpError(
          response.status,
          json,
          Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
        );
      } catch (error) {
        const retryable =
          !(error instanceof HttpError) ||
          error.status >= 500 ||
          error.status === 429 ||
          error.status === 408;
        if (!retryable || attempt >= retries || this.closedHard) throw error;
        const backoff = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** attempt);
        const wait =
          error instanceof HttpError && error.retryAfterMs !== null
            ? error.retryAfterMs
            : Math.random() * backoff;
        await sleep(wait);
      }
    }
  }

  private closedHard = false;

  /** Graceful shutdown: stops the push channel, sends what is queued (retrying), and closes. */
  async close(): Promise<void> {
    this.closed = true;
    this.stream?.close();
    this.live = false;
    await this.flush();
    this.closedHard = true;
  }
}
