/**
 * Group commit: rows written while a write is in flight go together in the next one. Under load a
 * single statement carries many rows (one round trip instead of one each); a lone write goes out at
 * once, so nothing ever waits for a timer. Each caller's promise settles when its own row is durable.
 */
export class GroupCommit<T> {
  private queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private draining = false;

  constructor(
    private readonly writeAll: (items: readonly T[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
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
      this.draining = false;
    }
  }
}
