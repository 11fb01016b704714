import type { Db } from "../../db/client.ts";
import { BUSY, type DurableHandler, openCursor, processBatch } from "./durable-cursor.ts";

/** What a durable subscriber registers with the log reader. */
export interface DurableSubscription {
  /** the cursor's name in event_cursors: the same on every node, stable across releases */
  readonly name: string;
  /** where a new cursor starts: the log's first event, or its end at registration */
  readonly from: "start" | "now";
  /** the most events one handler call gets (default 500) */
  readonly batchSize?: number;
  readonly handle: DurableHandler;
  /** after a failure the handler is retried after initialMs, doubling up to maxMs (1 s, 60 s) */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
  /** a gap in the sequence is waited on at least this long (default: the log's patience) */
  readonly gapPatienceMs?: number;
  /** told of each failed batch (to log it); the batch is retried either way */
  readonly onFailure?: (error: unknown, failures: number) => void;
}

/** How a durable subscriber fares on this node. */
export interface DurableStatus {
  /** batches failed in a row on this node (0 after a success) */
  readonly failures: number;
  readonly lastError: unknown;
  /** the next poll does not retry before this instant (epoch ms) */
  readonly retryAt: number;
}

const DEFAULT_BATCH_SIZE = 500;

/**
 * One durable subscriber on this node: drains its batches until caught up, and after a failure
 * waits out a doubling backoff. Its drains run beside everything else the reader does, so a slow
 * or failing handler holds up no other subscriber.
 */
export class DurableSubscriber {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private opened = false;
  private state: DurableStatus = { failures: 0, lastError: null, retryAt: 0 };

  constructor(
    private readonly db: Db,
    readonly subscription: DurableSubscription,
    private readonly gapPatienceMs: number,
    private readonly stopped: () => boolean,
  ) {
    const size = subscription.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(size) || size < 1) throw new Error(`batchSize must be a positive integer: ${size}`);
  }

  get name(): string {
    return this.subscription.name;
  }

  status(): DurableStatus {
    return this.state;
  }

  /** Not draining, and not waiting out a backoff. */
  due(now: number): boolean {
    return this.running === null && now >= this.state.retryAt;
  }

  /** Drains unless a drain is running (the poll's way). */
  poll(): void {
    if (!this.running) void this.start();
  }

  /**
   * Drains now, whatever the backoff; a drain already running may have read before the caller's
   * write, so callers arriving meanwhile share the drain after it.
   */
  drain(): Promise<void> {
    if (this.next) return this.next;
    const running = this.running;
    if (!running) return this.start();
    this.next = running.then(() => {
      this.next = null;
      return this.start();
    });
    return this.next;
  }

  /** Resolves when the drain in progress, if any, has ended. */
  async settled(): Promise<void> {
    await this.running;
    await this.next;
  }

  /** Creates the cursor if it does not exist yet: "now" means the log's end when this runs. */
  async open(): Promise<void> {
    if (this.opened) return;
    await openCursor(this.db, this.subscription.name, this.subscription.from, new Date());
    this.opened = true;
  }

  private start(): Promise<void> {
    const p = this.run().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }

  private async run(): Promise<void> {
    const { name, handle } = this.subscription;
    const spec = {
      name,
      handle,
      batchSize: this.subscription.batchSize ?? DEFAULT_BATCH_SIZE,
      gapPatienceMs: this.gapPatienceMs,
    };
    try {
      await this.open();
      while (!this.stopped()) {
        const outcome = await processBatch(this.db, spec, () => new Date());
        if (outcome === BUSY) return;
        this.state = { failures: 0, lastError: null, retryAt: 0 };
        if (!outcome.full) return;
      }
    } catch (error) {
      this.opened = false; // the cursor row may be gone: create it again on the retry
      const failures = this.state.failures + 1;
      const initial = this.subscription.retry?.initialMs ?? 1000;
      const max = this.subscription.retry?.maxMs ?? 60_000;
      const delay = Math.min(max, initial * 2 ** Math.min(failures - 1, 30));
      this.state = { failures, lastError: error, retryAt: Date.now() + delay };
      try {
        this.subscription.onFailure?.(error, failures);
      } catch {
        // a failing report must not stop the retries
      }
    }
  }
}
