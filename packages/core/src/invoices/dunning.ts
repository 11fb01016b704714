/**
 * Dunning: when an open invoice's payment is retried, and when collection gives up.
 *
 * The schedule is a list of days counted from the invoice's first failed attempt (not from the
 * previous retry), so its horizon is the last number and never drifts with late job runs. The
 * default retries early and often in the first week, when most declines (insufficient funds,
 * a card being replaced) clear — Stripe's smart retries make about eight tries in two weeks — and
 * ends at day 30, docs/rules.md's "dunning keeps MRR until retries are exhausted (default 30 days),
 * then churn (delinquent)".
 */
export const DEFAULT_RETRY_DAYS: readonly number[] = [1, 3, 5, 7, 14, 30];

const DAY_MS = 86_400_000;

export type RetrySchedule =
  | { readonly ok: true; readonly days: readonly number[] }
  | { readonly ok: false; readonly message: string };

/**
 * A schedule from its text form ("1,3,5,7"): strictly increasing whole days ≥ 1, at most 20 of
 * them, up to a year. An empty text means the default; "none" means no retries at all (the first
 * failure is final).
 */
export function parseRetrySchedule(text: string | undefined): RetrySchedule {
  const trimmed = (text ?? "").trim();
  if (trimmed === "") return { ok: true, days: DEFAULT_RETRY_DAYS };
  if (trimmed === "none") return { ok: true, days: [] };
  const parts = trimmed.split(",").map((p) => p.trim());
  const days: number[] = [];
  for (const part of parts) {
    if (!/^\d+$/.test(part))
      return { ok: false, message: `"${part}" is not a whole number of days (write e.g. 1,3,5,7)` };
    const day = Number(part);
    if (day < 1 || day > 365) return { ok: false, message: `${day} is outside 1–365 days` };
    if (days.length > 0 && day <= (days.at(-1) as number))
      return { ok: false, message: "retry days must increase strictly (e.g. 1,3,5,7)" };
    days.push(day);
  }
  if (days.length > 20) return { ok: false, message: "at most 20 retries" };
  return { ok: true, days };
}

/**
 * When the next automatic attempt is due, after `automaticAttempts` attempts that all failed (the
 * first at `firstFailedAt`); null when the schedule is exhausted and the invoice is to be given up.
 * Manual attempts (a "pay now") do not move the schedule, as with Stripe.
 */
export function nextRetryAt(
  schedule: readonly number[],
  firstFailedAt: Date,
  automaticAttempts: number,
): Date | null {
  if (!Number.isSafeInteger(automaticAttempts) || automaticAttempts < 1)
    throw new RangeError("automaticAttempts counts the failed attempts, the first included (≥ 1)");
  const day = schedule[automaticAttempts - 1];
  return day === undefined ? null : new Date(firstFailedAt.getTime() + day * DAY_MS);
}
