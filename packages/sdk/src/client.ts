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

interface Entry {
  view: EntitlementsView;
  fetchedAt: number;
  failed: boolean;
  refreshing: Promise<void> | null;
  again: boolean;
  /** the server's answers for denied / near-limit checks, until the next refresh */
  asked: Map<string, Promise<CheckResult | null>>;
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
  private readonly loading = new Map<string, Promise<Entry | null>>();
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

  /** Queues a usage event and returns its id. Sent in batches; retried with the same id. */
  track(event: TrackEvent): string {
    if (this.closed) throw new Error("this Uptier client is closed");
    const id = event.id ?? `evt_${randomUUID()}`;
    const timestamp =
      event.timestamp === undefined
        ? new Date().toISOString()
        : typeof event.timestamp === "string"
          ? event.timestamp
          : event.timestamp.toISOString();
    this.queue.push({
      id,
      account: event.account,
      event: event.event,
      ...(event.user ? { user: event.user } : {}),
      timestamp,
      properties: event.properties ?? {},
    });
    if (this.queue.length > this.options.maxQueueSize) {
      const dropped = this.queue.splice(0, this.queue.length - this.options.maxQueueSize);
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
    try {
      const response = (await this.request(
        "POST",
        "/v1/events",
        { events: batch },
        { retries: this.options.maxRetries },
      )) as EventsBatchResponse;
      const rejected = response.results.filter((r) => r.status === "rejected");
      if (rejected.length > 0)
        this.emitError({
          kind: "events_rejected",
          message: `${rejected.length} events were rejected.`,
          detail: rejected,
        });
    } catch (error) {
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
    const key = `${feature}\u0000${quantity}`;
    let asked = entry.asked.get(key);
    if (!asked) {
      asked = (
        this.request(
          "POST",
          "/v1/check",
          { account: view.account, feature, quantity },
          { retries: 1 },
        ) as Promise<CheckResult>
      ).catch(() => {
        entry.asked.delete(key);
        return null;
      });
      entry.asked.set(key, asked);
    }
    const server = await asked;
    if (server) return { ...server, source: "server", stale: false, ageMs };
    return fromCache(checkResultOf(view.account, feature, decision, null, false), true, ageMs);
  }

  /** The account's cached entitlements (fetched if absent); null when the server is unreachable. */
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
      p = this.fetchView(account)
        .then((view) => this.store(account, view))
        .catch(() => null)
        .finally(() => this.loading.delete(account));
      this.loading.set(account, p);
    }
    return p;
  }

  private store(key: string, view: EntitlementsView): Entry {
    const entry: Entry = {
      view,
      fetchedAt: Date.now(),
      failed: false,
      refreshing: null,
      again: false,
      asked: new Map(),
    };
    this.cache.set(key, entry);
    let keys = this.keysById.get(view.account);
    if (!keys) {
      keys = new Set();
      this.keysById.set(view.account, keys);
    }
    keys.add(key);
    return entry;
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
        try {
          const view = await this.fetchView(key);
          entry.view = view;
          entry.fetchedAt = Date.now();
          entry.failed = false;
          entry.asked = new Map();
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
