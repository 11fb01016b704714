import { anyCause, sqlState } from "../lib/error-causes.ts";

const DEADLOCK = new Set(["40P01", "40001"]);

const isRetryable = (error: unknown) => anyCause(error, (e) => DEADLOCK.has(sqlState(e) ?? ""));

/** Runs a write again when PostgreSQL aborted it for a deadlock or a serialization failure. */
export async function retryingWrites<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= 4 || !isRetryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 10));
    }
  }
}
