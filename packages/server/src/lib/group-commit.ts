/**
 * Group commit: rows written while the statements in flight run go together in the next one. Under
 * load a single statement carries many rows (one round trip instead of one each); a write that finds
 * a free slot goes out at once, so nothing ever waits for a timer. Up to `concurrency` statements run
 * at a time, so one slow round trip does not hold every row back. Each caller's promise settles when
 * its own row is durable.
 */
export class GroupCommit<T> {
  private queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly writeAll: (items: readonly T[]) => Promise<void>,
    private readonly options: { maxBatch?: number; concurrency?: number } = {},
  ) {}

  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight < (this.options.concurrency ?? 4)) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight++;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
        try {
          await this.writeAll(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (error) {
          if (batch.length === 1) (batch[0] as (typeof batch)[number]).reject(error);
          // one bad row must not fail the rows that happened to share its statement
          else for (const b of batch) await this.writeAll([b.item]).then(b.resolve, b.reject);
        }
      }
    } finally {
      this.inFlight--;
    }
  }
}
