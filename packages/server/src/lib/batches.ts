/**
 * Work that arrives while batches are running goes together in the next batch: under load one
 * batch carries many items (one transaction, one lock taken once, one WAL flush), and a lone item
 * goes at once, so nothing ever waits for a timer. Up to `maxRunning` batches run at once (while one
 * waits for the database, the next is being read). A batch answers per item; when the whole batch
 * fails (a deadlock, a constraint), each of its items is run again alone, so an item fails only its
 * own caller.
 */
export class Batches<I, O> {
  private waiting: { item: I; resolve: (value: O) => void; reject: (reason: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly runBatch: (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>,
    private readonly maxBatch: number,
    private readonly maxRunning = 1,
  ) {}

  run(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.running < this.maxRunning) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          settle(batch, await this.runBatch(batch.map((b) => b.item)));
        } catch (error) {
          if (batch.length === 1) batch[0]?.reject(error);
          else
            for (const b of batch)
              await this.runBatch([b.item]).then((results) => settle([b], results), b.reject);
        }
      }
    } finally {
      this.running--;
    }
  }
}

function settle<O>(
  batch: readonly { resolve: (value: O) => void; reject: (reason: unknown) => void }[],
  results: readonly PromiseSettledResult<O>[],
): void {
  batch.forEach((b, i) => {
    const result = results[i];
    if (result?.status === "fulfilled") b.resolve(result.value);
    else b.reject(result ? result.reason : new Error("the batch gave no answer for this item"));
  });
}
