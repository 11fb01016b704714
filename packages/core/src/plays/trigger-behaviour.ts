import type { TriggerOf } from "./document.ts";
import type { AccountSignals } from "./signals.ts";
import { billingCycleStart, count, DAY_MS, iso, type TriggerResult } from "./trigger-result.ts";
import { latest } from "./trigger-usage.ts";

const within = (at: Date, from: Date, to: Date) =>
  at.getTime() >= from.getTime() && at.getTime() <= to.getTime();

/**
 * feature_locked: a check of the feature was refused because the plan lacks it
 * (`feature_not_in_plan`) in the current billing cycle. Once per billing period (a plan change
 * starts a new one).
 */
export function featureLocked(trigger: TriggerOf<"feature_locked">, signals: AccountSignals): TriggerResult {
  const since = billingCycleStart(signals);
  const attempt = latest(
    signals.denied.filter(
      (d) =>
        d.feature === trigger.feature &&
        d.reason === "feature_not_in_plan" &&
        within(d.at, since, signals.at),
    ),
  );
  if (!attempt)
    return {
      fired: false,
      reason: `no attempt at the locked feature "${trigger.feature}" since ${iso(since)}`,
    };
  return {
    fired: true,
    cycle: iso(since),
    reason: `${trigger.feature} was attempted without the plan granting it at ${iso(attempt.at)}`,
  };
}

/**
 * seat_limit_hit: an invite was refused for lack of seats in the current billing cycle. Once per
 * billing period and seat count: after buying a seat, filling it and hitting the limit again fires again.
 */
export function seatLimitHit(_trigger: TriggerOf<"seat_limit_hit">, signals: AccountSignals): TriggerResult {
  const since = billingCycleStart(signals);
  const refused = latest(signals.invitesRefused.filter((r) => within(r.at, since, signals.at)));
  if (!refused) return { fired: false, reason: `no invite refused for lack of seats since ${iso(since)}` };
  return {
    fired: true,
    cycle: `${iso(since)}/seats=${refused.seats}`,
    reason: `an invite was refused at ${count(refused.seats)} seats at ${iso(refused.at)}`,
  };
}

/**
 * event_count: `count` events of the name within a sliding window of `within_days` (or ever).
 * Without a window it fires once, when the count is first reached (cycle `lifetime`). With one,
 * each episode fires once: an episode begins at the event that brings the window's count to
 * `count` (the window before it held fewer) and the play fires while that event is still in the
 * window; the cycle is that event's instant. Order-independent: it reads the set of events.
 */
export function eventCount(trigger: TriggerOf<"event_count">, signals: AccountSignals): TriggerResult {
  const now = signals.at.getTime();
  const times = signals.events
    .filter((e) => e.name === trigger.event && e.at.getTime() <= now)
    .map((e) => e.at.getTime())
    .sort((a, b) => a - b);
  const n = trigger.count;
  if (trigger.within_days === undefined) {
    if (times.length < n)
      return { fired: false, reason: `${count(times.length)} of ${count(n)} ${trigger.event} events` };
    return {
      fired: true,
      cycle: "lifetime",
      reason: `${count(times.length)} ${trigger.event} events (${count(n)}+)`,
    };
  }
  const window = trigger.within_days * DAY_MS;
  // The latest episode start: an event at which the window (t − window, t] holds exactly n events.
  let start: number | undefined;
  for (let i = 0, lo = 0, group = 0; i < times.length; i++) {
    const t = times[i] as number;
    if (i === 0 || times[i - 1] !== t) group = i;
    while ((times[lo] as number) <= t - window) lo++;
    // Events at one instant arrive together: judge the window after the last of them.
    if (times[i + 1] === t) continue;
    if (i - lo + 1 >= n && group - lo < n) start = t;
  }
  const held = times.filter((t) => t > now - window).length;
  const what = `${count(held)} ${trigger.event} events in the last ${trigger.within_days} days`;
  if (start === undefined || now - start >= window)
    return {
      fired: false,
      reason: `${what}; fewer than ${count(n)} in any ${trigger.within_days}-day window still open`,
    };
  return {
    fired: true,
    cycle: iso(new Date(start)),
    reason: `${what}: ${count(n)} reached at ${iso(new Date(start))}`,
  };
}
