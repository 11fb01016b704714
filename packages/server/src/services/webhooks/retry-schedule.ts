const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The waits before each retry of a failed delivery, after the first attempt (made as soon as the
 * delivery is queued): Standard Webhooks' recommended schedule, so a message is tried 8 times over
 * about 28 hours before it is given up.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
];

/** Each wait is spread by up to ±20%, so deliveries that failed together do not retry together. */
export const RETRY_JITTER = 0.2;

/**
 * The wait before the next attempt after `failedAttempts` failures in a row (1 for the first), or
 * null when the schedule is used up. `random` is in [0, 1).
 */
export function nextRetryDelay(
  schedule: readonly number[],
  failedAttempts: number,
  random: number,
): number | null {
  const base = schedule[failedAttempts - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random));
}

/**
 * When an endpoint is disabled: after it has failed every attempt for `failingForMs` (5 days, as
 * Svix), or after `failedDeliveries` deliveries in a row used up all their retries.
 */
export interface DisablePolicy {
  readonly failingForMs: number;
  readonly failedDeliveries: number;
}

export const DEFAULT_DISABLE_POLICY: DisablePolicy = { failingForMs: 5 * DAY, failedDeliveries: 20 };

export type DisableReason = "failing_for_days" | "failed_deliveries";

/** Why an endpoint with this failure record is to be disabled now, or null. */
export function disableReason(
  policy: DisablePolicy,
  record: { readonly failingSince: Date | null; readonly consecutiveFailedDeliveries: number },
  at: Date,
): DisableReason | null {
  if (record.consecutiveFailedDeliveries >= policy.failedDeliveries) return "failed_deliveries";
  if (record.failingSince && at.getTime() - record.failingSince.getTime() >= policy.failingForMs)
    return "failing_for_days";
  return null;
}
