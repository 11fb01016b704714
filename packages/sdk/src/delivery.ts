import type { EventsBatchResponse, UsageEventInput } from "@uptier/core";
import type { EntitlementCache } from "./cache.ts";
import type { Settings, UptierError } from "./options.ts";
import type { Transport } from "./transport.ts";

/**
 * Tracked events on their way to the server: queued, sent in batches (when `flushAt` are queued or
 * `flushIntervalMs` after the first), retried with the same ids. The cache hears what became of
 * each: sent, acknowledged, or given up.
 */
export class EventQueue {
  private queue: UsageEventInput[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: Settings,
    private readonly transport: Transport,
    private readonly cache: EntitlementCache,
    private readonly emitError: (error: UptierError) => void,
  ) {}

  /** Queues an event (dropping the oldest beyond maxQueueSize) and schedules its batch. */
  add(input: UsageEventInput): void {
    this.queue.push(input);
    if (this.queue.length > this.settings.maxQueueSize) {
      const dropped = this.queue.splice(0, this.queue.length - this.settings.maxQueueSize);
      this.cache.forget(dropped);
      this.emitError({
        kind: "queue_overflow",
        message: `Dropped ${dropped.length} events: the queue is full.`,
        detail: dropped,
      });
    }
    if (this.queue.length >= this.settings.flushAt) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.settings.flushIntervalMs);
      this.timer.unref();
    }
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
        const batch = this.queue.splice(0, this.settings.flushAt);
        await this.deliver(batch);
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Sends what is queued, waiting at most `ms`; true when it was sent (or given up). */
  async flushWithin(ms: number): Promise<boolean> {
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

  /** Sends one batch, retrying network failures, 5xx and 429 with jittered backoff; ids never change. */
  private async deliver(batch: UsageEventInput[]): Promise<void> {
    this.cache.sending(batch);
    try {
      const response = (await this.transport.request(
        "POST",
        "/v1/events",
        { events: batch },
        { retries: this.settings.maxRetries },
      )) as EventsBatchResponse;
      this.cache.acknowledge(batch, response);
      const rejected = response.results.filter((r) => r.status === "rejected");
      if (rejected.length > 0)
        this.emitError({
          kind: "events_rejected",
          message: `${rejected.length} events were rejected.`,
          detail: rejected,
        });
    } catch (error) {
      // Given up: the server will not count them (a lost answer to a counted batch is corrected by its push).
      this.cache.forget(batch);
      this.emitError({
        kind: "delivery_failed",
        message: `Gave up on ${batch.length} events.`,
        detail: { error, events: batch },
      });
    }
  }
}
