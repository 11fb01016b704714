import type { TriggerOf } from "./document.ts";
import type { AccountSignals, FeatureUsage, UsageReading } from "./signals.ts";
import { count, iso, liveSubscription, type TriggerResult } from "./trigger-result.ts";

/** A ratio of the playbook (0.01 to 1, in whole percent) as the whole percent it stands for. */
export const wholePercent = (ratio: number) => Math.round(ratio * 100);

/** used ≥ percent% of limit, exactly (integers, in BigInt: usage goes up to 1e15). A limit of 0 is reached at once. */
function reached(reading: UsageReading, percent: number): boolean {
  if (reading.limit === null) return false;
  if (reading.limit <= 0) return true;
  return BigInt(Math.trunc(reading.used)) * 100n >= BigInt(percent) * BigInt(reading.limit);
}

/**
 * The cycle of a usage trigger: the meter's window (or the whole life of usage that never resets)
 * and the limit, so a plan with another limit is a new cycle.
 */
const usageCycle = (usage: FeatureUsage | undefined, fallback: string) =>
  `${usage?.windowStart ? iso(usage.windowStart) : fallback}/limit=${usage?.after.limit ?? "none"}`;

/** The latest of some dated records (the snapshot's lists are in no promised order). */
export function latest<T extends { readonly at: Date }>(records: readonly T[]): T | undefined {
  let found: T | undefined;
  for (const r of records) if (!found || r.at.getTime() > found.at.getTime()) found = r;
  return found;
}

const usageOf = (signals: AccountSignals, feature: string) =>
  Object.hasOwn(signals.usage, feature) ? signals.usage[feature] : undefined;

const describe = (r: UsageReading) =>
  `${count(r.used)} of ${r.limit === null ? "unlimited" : count(r.limit)}`;

/**
 * usage_ratio: the event at hand crossed the ratio — the usage before it was below `at` of the
 * limit and after it is at or above (previous ratio < at ≤ new ratio). Once per window and limit.
 */
export function usageRatio(trigger: TriggerOf<"usage_ratio">, signals: AccountSignals): TriggerResult {
  const usage = usageOf(signals, trigger.feature);
  const percent = wholePercent(trigger.at);
  if (!usage) return { fired: false, reason: `no usage of "${trigger.feature}" in this snapshot` };
  if (usage.after.limit === null)
    return { fired: false, reason: `"${trigger.feature}" has no limit on this account` };
  if (!reached(usage.after, percent))
    return { fired: false, reason: `below ${percent}%: ${describe(usage.after)}` };
  if (reached(usage.before, percent) && usage.before.limit === usage.after.limit)
    return { fired: false, reason: `already at ${percent}% before this event: ${describe(usage.before)}` };
  return {
    fired: true,
    cycle: usageCycle(usage, "lifetime"),
    reason: `${trigger.feature} crossed ${percent}%: ${count(usage.before.used)} → ${describe(usage.after)}`,
  };
}

/**
 * limit_reached: a check of the feature was refused at its limit since the window (and the current
 * plan) began. Once per window and limit.
 */
export function limitReached(trigger: TriggerOf<"limit_reached">, signals: AccountSignals): TriggerResult {
  const usage = usageOf(signals, trigger.feature);
  const since = Math.max(
    usage?.windowStart?.getTime() ?? Number.NEGATIVE_INFINITY,
    liveSubscription(signals)?.planSince.getTime() ?? Number.NEGATIVE_INFINITY,
  );
  const refusals = signals.denied.filter(
    (d) =>
      d.feature === trigger.feature &&
      d.reason === "limit_reached" &&
      d.at.getTime() >= since &&
      d.at.getTime() <= signals.at.getTime(),
  );
  const last = latest(refusals);
  if (!last)
    return { fired: false, reason: `no check of "${trigger.feature}" refused at its limit in this window` };
  return {
    fired: true,
    cycle: usageCycle(usage, "lifetime"),
    reason: `a check of ${trigger.feature} was refused at its limit at ${iso(last.at)}`,
  };
}
