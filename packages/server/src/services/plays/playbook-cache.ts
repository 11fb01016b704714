import type { Playbook } from "@uptier/core";
import { type Db, type Executor, isTransaction } from "../../db/client.ts";
import type { DomainEventLog, LoggedEvent } from "../events/log-reader.ts";
import type { PlaybookSource } from "./evaluate.ts";
import { playbookInForce } from "./playbook.ts";

interface Loaded {
  readonly playbook: Playbook | null;
  readonly expiresAt: number;
}

/**
 * The playbook in force, kept in memory by each process: every GET /v1/prompts and every batch of
 * the plays' evaluation asks for it, and it changes only when a version is applied.
 *
 * Freshness is the other caches' (MeteringState, the quotes' billing state): applying a version
 * writes `playbook.applied` to the domain-event log, and this process drops what it holds when the
 * log's reader sees it — at once after its own write (read-your-writes), within a poll interval
 * after another node's. A load that began before such an event is never kept, and whatever is held
 * is read again after `ttlMs` at the latest.
 */
export class PlaybookCache {
  private loaded: Loaded | undefined;
  private loading: Promise<Playbook | null> | undefined;
  /** moved by every invalidation: a load begun before one is not kept */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 60_000,
  ) {}

  /** The PlaybookSource the prompt routes and the evaluation read. */
  readonly inForce: PlaybookSource = (db) => this.read(db);

  private read(db: Executor): Promise<Playbook | null> {
    const held = this.loaded;
    if (held && Date.now() < held.expiresAt) return Promise.resolve(held.playbook);
    if (isTransaction(db)) {
      // Never wait on the pool while holding a transaction (every client may be held by one, see
      // MeteringState.entitlements): read through it, keep nothing it read (it may yet roll back),
      // and load for the next caller beside it.
      this.load().catch(() => {});
      return playbookInForce(db);
    }
    return this.load();
  }

  private load(): Promise<Playbook | null> {
    if (this.loading) return this.loading;
    const generation = this.generation;
    const loading = playbookInForce(this.db)
      .then((playbook) => {
        if (this.generation === generation) this.loaded = { playbook, expiresAt: Date.now() + this.ttlMs };
        return playbook;
      })
      .finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    this.loading = loading;
    return loading;
  }

  invalidate(): void {
    this.generation += 1;
    this.loaded = undefined;
    this.loading = undefined;
  }

  /** Drops the playbook held when a version is applied, here or on another node. */
  follow(log: DomainEventLog): () => void {
    return log.subscribe((events: readonly LoggedEvent[]) => {
      if (events.some((e) => e.type === "playbook.applied")) this.invalidate();
    });
  }
}
