/** The calendar buckets movements are counted in: UTC days, ISO weeks (from Monday), calendar months. */
export type BucketSize = "day" | "week" | "month";

/** A half-open stretch of time [start, end). */
export interface Bucket {
  readonly start: Date;
  readonly end: Date;
}

const DAY = 86_400_000;

/** The start of the bucket containing `at`. */
export function bucketStart(at: Date, size: BucketSize): Date {
  const midnight = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  if (size === "day") return new Date(midnight);
  if (size === "week") return new Date(midnight - ((at.getUTCDay() + 6) % 7) * DAY);
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** The start of the bucket after the one starting at `start`. */
export function nextBucketStart(start: Date, size: BucketSize): Date {
  if (size === "day") return new Date(start.getTime() + DAY);
  if (size === "week") return new Date(start.getTime() + 7 * DAY);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}

/** The buckets covering [from, to): the first contains `from`, the last contains the instant before `to`. */
export function bucketsBetween(from: Date, to: Date, size: BucketSize): Bucket[] {
  const result: Bucket[] = [];
  // an empty range [from, from) has no bucket, even when `from` is inside one
  if (to.getTime() <= from.getTime()) return result;
  for (let start = bucketStart(from, size); start.getTime() < to.getTime(); ) {
    const end = nextBucketStart(start, size);
    result.push({ start, end });
    start = end;
  }
  return result;
}

/** How many buckets cover [from, to), without listing them (to bound a request before answering it). */
export function bucketCount(from: Date, to: Date, size: BucketSize): number {
  if (to.getTime() <= from.getTime()) return 0;
  const first = bucketStart(from, size);
  if (size === "month") {
    const last = bucketStart(new Date(to.getTime() - 1), size);
    return (
      (last.getUTCFullYear() - first.getUTCFullYear()) * 12 + (last.getUTCMonth() - first.getUTCMonth()) + 1
    );
  }
  const length = size === "day" ? DAY : 7 * DAY;
  return Math.ceil((to.getTime() - first.getTime()) / length);
}

/** The first instant of the calendar month `months` after the month containing `at` (retention windows). */
export function monthStartPlus(at: Date, months: number): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));
}
