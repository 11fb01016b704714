import { MAX_BATCH_EVENTS } from "@uptier/core";

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

/** The options with every default filled in. */
export type Settings = Required<Omit<UptierOptions, "onError" | "fetch">> & Pick<UptierOptions, "onError">;

export function settingsOf(options: UptierOptions): Settings {
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
  return { ...merged, flushAt: Math.min(Math.max(1, merged.flushAt), MAX_BATCH_EVENTS) };
}
