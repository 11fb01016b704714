import { randomUUID } from "node:crypto";
import {
  type CheckResult,
  checkResultOf,
  decideCheck,
  type EntitlementsView,
  type UsageEventInput,
} from "@uptier/core";
import { EntitlementCache } from "./cache.ts";
import { type Check, fallbackCheck, fromCache } from "./checks.ts";
import { EventQueue } from "./delivery.ts";
import { type Settings, settingsOf, type UptierError, type UptierOptions } from "./options.ts";
import { followPushes } from "./push.ts";
import type { EventStream } from "./stream.ts";
import { TrackedEvents } from "./tracked.ts";
import { Transport } from "./transport.ts";

export interface TrackEvent {
  readonly account: string;
  readonly event: string;
  readonly user?: string;
  readonly properties?: Record<string, unknown>;
  readonly timestamp?: Date | string;
  /** your id for the event; generated when absent, once, so a retry stays idempotent */
  readonly id?: string;
}

/**
 * Uptier's Node client: track() with batching and idempotent retries, and check() answered from a
 * local cache of each account's entitlements, kept fresh by the server's push channel (SSE) and
 * decided by the same function the server uses (@uptier/core's decideCheck).
 */
export class Uptier {
  private readonly settings: Settings;
  private readonly transport: Transport;
  /** tracked events until a cached snapshot counts them */
  private readonly tracked = new TrackedEvents();
  private readonly cache: EntitlementCache;
  private readonly events: EventQueue;
  private readonly stream: EventStream | null = null;
  private closed = false;
  private readonly changeListeners = new Set<(accounts: readonly string[] | "all") => void>();

  constructor(options: UptierOptions) {
    this.settings = settingsOf(options);
    const emitError = (error: UptierError) => this.settings.onError?.(error);
    this.transport = new Transport(this.settings, options.fetch ?? fetch);
    this.cache = new EntitlementCache(this.settings, this.transport, this.tracked, emitError);
    this.events = new EventQueue(this.settings, this.transport, this.cache, emitError);
    if (this.settings.stream)
      this.stream = followPushes(this.transport, this.cache, {
        error: emitError,
        change: (accounts) => {
          for (const listener of this.changeListeners) listener(accounts);
        },
      });
  }

  /** Whether the push channel is connected (cached answers are then fresh within about a second). */
  get connected(): boolean {
    return this.cache.live;
  }

  /** Called with the account ids whose entitlements changed (or "all"), after the cache refreshed them. */
  onChange(listener: (accounts: readonly string[] | "all") => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

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
    this.cache.note(input, Date.parse(timestamp));
    this.events.add(input);
    return id;
  }

  /** Sends everything queued; resolves when the queue is empty (or its events were given up). */
  flush(): Promise<void> {
    return this.events.flush();
  }

  /**
   * May the account use the feature (quantity more of it)? Decided from the local cache; a denied or
   * near-limit answer is confirmed by the server (which records the denial as a signal and names the
   * cheapest upgrade). Nothing cached and the server unreachable: the fail mode decides, visibly.
   */
  async check(account: string, feature: string, options: { quantity?: number } = {}): Promise<Check> {
    const quantity = options.quantity ?? 1;
    const entry = this.cache.entry(account) ?? (await this.cache.load(account));
    if (!entry) return fallbackCheck(account, feature, this.settings.failMode);
    const now = Date.now();
    const ageMs = now - entry.fetchedAt;
    const live = this.cache.live;
    if (!live && ageMs > this.settings.staleAfterMs) this.cache.refresh(account);
    const stale = entry.failed || (!live && ageMs > this.settings.staleAfterMs);
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
      if (
        usage &&
        this.cache.unacknowledged(view) &&
        !(await this.events.flushWithin(this.settings.requestTimeoutMs))
      )
        return fromCache(checkResultOf(view.account, feature, decision, null, false), true, ageMs);
      const memo = denied ? entry.askedDenied : entry.asked;
      asked = memo.get(key);
      if (!asked) {
        asked = (
          this.transport.request(
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
    return (this.cache.entry(account) ?? (await this.cache.load(account)))?.view ?? null;
  }

  /** Graceful shutdown: stops the push channel, sends what is queued (retrying), and closes. */
  async close(): Promise<void> {
    this.closed = true;
    this.stream?.close();
    this.cache.close();
    await this.events.flush();
    this.transport.stopRetrying();
  }
}
