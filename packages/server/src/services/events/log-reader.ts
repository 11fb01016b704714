import { type DomainEvent, upcastDomainEvent } from "@uptier/core/api";
import { inArray, or, sql } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { domainEvents } from "../../db/schema/index.ts";
import { readSubscriberLag, type SubscriberLag } from "./durable-cursor.ts";
import { type DurableStatus, DurableSubscriber, type DurableSubscription } from "./durable-subscriber.ts";

/** An event as read from the log: its position, its account and its typed payload. */
export type LoggedEvent = DomainEvent & { readonly seq: number };

export type EventSubscriber = (events: readonly LoggedEvent[]) => void;

/** The most domain events one read of the log returns. */
export const POLL_PAGE_SIZE = 2000;

/** How long a gap in the sequence is re-read: it may be a transaction still in flight. */
const GAP_PATIENCE_MS = 10_000;

/**
 * The one reader of the domain-event log, with two kinds of subscribers. In-memory ones (the
 * entitlement cache, the quote cache; `subscribe`) get every event committed after the reader
 * started, in order, typed by the catalog (core/api/events.ts, old shapes upcast). It polls on a
 * timer; `catchUp` reads now, after a write of this process committed, so the next request sees it
 * (read-your-writes on one node, other nodes within a poll).
 *
 * Durable ones (plays, webhooks, MRR movements; `subscribeDurable`) get every committed event at
 * least once, across restarts: each has a cursor in the database, moved in the transaction its
 * handler runs in, and processed by one node at a time (durable-cursor.ts). They are drained on
 * the same timer, each on its own, with a backoff after a failure.
 */
export class DomainEventLog {
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly durable = new Map<string, DurableSubscriber>();
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = -1;
  private readonly pending = new Map<number, number>();
  private polling: Promise<void> | null = null;
  /** the poll that catchUp callers arriving during a running poll wait for: it starts after that one */
  private nextPoll: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly pollIntervalMs = 100,
  ) {}

  subscribe(subscriber: EventSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  /**
   * Registers a durable subscriber on this node (every node registers the same ones). Its cursor
   * is created at the first drain if the database has none; an existing cursor carries on where it
   * stands, whatever `from` says. The returned function stops draining it here; the cursor stays.
   */
  subscribeDurable(subscription: DurableSubscription): () => void {
    if (this.durable.has(subscription.name))
      throw new Error(`A durable subscriber "${subscription.name}" is registered already.`);
    const subscriber = new DurableSubscriber(
      this.db,
      subscription,
      subscription.gapPatienceMs ?? GAP_PATIENCE_MS,
      () => this.closed,
    );
    this.durable.set(subscription.name, subscriber);
    return () => {
      if (this.durable.get(subscription.name) === subscriber) this.durable.delete(subscription.name);
    };
  }

  /**
   * Drains the durable subscribers (or the one named) now, whatever their backoff, until each is
   * caught up, failed, or held by another node. Failures are kept in `durableStatus`, not thrown.
   */
  async drainDurable(name?: string): Promise<void> {
    if (this.closed) return;
    const subscribers = name === undefined ? [...this.durable.values()] : [this.durable.get(name)];
    await Promise.all(subscribers.map((s) => s?.drain()));
  }

  /** How a durable subscriber fares on this node; undefined for one not registered here. */
  durableStatus(name: string): DurableStatus | undefined {
    return this.durable.get(name)?.status();
  }

  /** How far a durable subscriber is behind the log (read from the database: any node's view). */
  lag(name: string, now = new Date()): Promise<SubscriberLag | null> {
    return readSubscriberLag(this.db, name, now);
  }

  /**
   * Starts reading the log from its current end; a durable subscriber registered before this call
   * that has no cursor yet gets one here, so its "now" is the start, not its first drain.
   */
  async start(): Promise<void> {
    this.lastSeq = await this.logEnd();
    for (const subscriber of this.durable.values()) await subscriber.open();
    const tick = () => {
      if (this.closed) return;
      const now = Date.now();
      for (const subscriber of this.durable.values()) if (subscriber.due(now)) subscriber.poll();
      if (this.polling) {
        this.timer = setTimeout(tick, this.pollIntervalMs);
        return;
      }
      this.pollNow()
        .catch(() => {})
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.pollIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.pollIntervalMs);
    this.timer.unref();
  }

  /**
   * Reads the log now, after a write of this process committed. A poll already running may have
   * read the log before the caller's write committed, so the caller needs the next one; every
   * caller that arrives meanwhile shares that next poll.
   */
  catchUp(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.nextPoll) return this.nextPoll;
    const running = this.polling;
    if (!running) return this.pollNow();
    const next = running
      .catch(() => {})
      .then(() => {
        this.nextPoll = null;
        return this.closed ? undefined : this.pollNow();
      });
    this.nextPoll = next;
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling?.catch(() => {});
    await Promise.all([...this.durable.values()].map((s) => s.settled()));
    this.subscribers.clear();
    this.durable.clear();
  }

  /**
   * Reads page after page up to the end of the log as it stands when the first page comes back
   * full: a catch-up must get past its write's event, which after a burst may lie pages ahead. The
   * end is read once, so a steady stream of newer events cannot keep the loop going.
   */
  async poll(): Promise<void> {
    let end: number | undefined;
    while (!this.closed && (await this.readPage())) {
      end ??= await this.logEnd();
      if (this.lastSeq >= end) return;
    }
  }

  private pollNow(): Promise<void> {
    const p = this.poll().finally(() => {
      if (this.polling === p) this.polling = null;
    });
    this.polling = p;
    return p;
  }

  /** The sequence number of the last event committed (0 for an empty log). */
  private async logEnd(): Promise<number> {
    const [row] = await this.db
      .select({ seq: sql<number>`coalesce(max(${domainEvents.seq}), 0)`.mapWith(Number) })
      .from(domainEvents);
    return row?.seq ?? 0;
  }

  /**
   * Reads one page after the last event seen; answers whether it was full. Sequence numbers are
   * handed out at insert and committed in any order, so a gap is re-read for a while.
   */
  private async readPage(): Promise<boolean> {
    const now = Date.now();
    for (const [seq, since] of this.pending) if (now - since > GAP_PATIENCE_MS) this.pending.delete(seq);
    const gaps = [...this.pending.keys()];
    const after = sql`${domainEvents.seq} > ${this.lastSeq}`;
    const rows = await this.db
      .select({
        seq: domainEvents.seq,
        accountId: domainEvents.accountId,
        type: domainEvents.type,
        data: domainEvents.data,
      })
      .from(domainEvents)
      .where(gaps.length > 0 ? or(after, inArray(domainEvents.seq, gaps)) : after)
      .orderBy(domainEvents.seq)
      .limit(POLL_PAGE_SIZE);
    const events: LoggedEvent[] = [];
    for (const row of rows) {
      this.pending.delete(row.seq);
      if (row.seq > this.lastSeq) {
        for (let missing = this.lastSeq + 1; missing < row.seq && this.pending.size < 10_000; missing++)
          this.pending.set(missing, now);
        this.lastSeq = row.seq;
      }
      const event = upcastDomainEvent(row.type, row.accountId, row.data);
      if (event) events.push({ ...event, seq: row.seq });
    }
    if (events.length > 0) for (const subscriber of this.subscribers) subscriber(events);
    return rows.length === POLL_PAGE_SIZE;
  }
}
