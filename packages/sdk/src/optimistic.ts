import {
  combineTotals,
  type EntitlementMeter,
  type EntitlementsView,
  meterContribution,
  type UsageEventInput,
} from "@uptier/core";

/**
 * Cached usage: the server's snapshot of an account's entitlements, and what checks read — the
 * snapshot plus the tracked events it does not count yet. A snapshot is never changed: `view` is a
 * copy (made on the first event that moves a feature) so the next snapshot can replace it whole.
 */
export interface CachedUsage {
  /** the server's snapshot */
  base: EntitlementsView;
  /** what checks read: `base`, or a copy with tracked events applied */
  view: EntitlementsView;
  /**
   * unique_count features: the distinct values tracked events added on top of the snapshot. The SDK
   * cannot know which values the server has already seen this window, so each value new to this
   * set counts as new: usage may read high until the server's count replaces it, never low. High is
   * the safe side — it cannot let a check past the limit, and a denial it causes is put to the
   * server (after the events are sent), so a value the server already had costs a round trip, not a
   * wrong answer. Leaving unique_count to the server would leave open the gap this closes.
   */
  uniques: Map<string, Set<string>> | null;
}

interface Fed {
  readonly feature: string;
  readonly meter: EntitlementMeter;
  /** the meter's current window [start, end) in ms: the server counts an event in its own window */
  readonly start: number;
  readonly end: number;
}

const fedMemo = new WeakMap<EntitlementsView, Map<string, Fed[]>>();

/** The metered features of a snapshot, by the event name their meter counts. */
function fedBy(view: EntitlementsView): Map<string, Fed[]> {
  let map = fedMemo.get(view);
  if (map) return map;
  map = new Map();
  for (const entitlement of Object.values(view.features)) {
    const meter = entitlement.meter;
    if (!meter) continue;
    const list = map.get(meter.event) ?? [];
    list.push({
      feature: entitlement.feature,
      meter,
      start: entitlement.period_start ? Date.parse(entitlement.period_start) : Number.NEGATIVE_INFINITY,
      end: entitlement.resets_at ? Date.parse(entitlement.resets_at) : Number.POSITIVE_INFINITY,
    });
    map.set(meter.event, list);
  }
  fedMemo.set(view, map);
  return map;
}

function setUsed(usage: CachedUsage, feature: string, used: number): void {
  if (usage.view === usage.base) usage.view = { ...usage.base, features: { ...usage.base.features } };
  const current = usage.view.features[feature];
  if (!current) return;
  if (current === usage.base.features[feature]) usage.view.features[feature] = { ...current, used };
  else current.used = used;
}

/**
 * Applies one tracked event to the cached usage with the server's own rules (core's
 * meterContribution and combineTotals): each meter that counts the event's name adds its
 * contribution when the event's timestamp lies in the meter's current window. An event some meter
 * cannot read is rejected by the server, so it counts nowhere here either. True when usage moved.
 */
export function applyTracked(usage: CachedUsage, event: UsageEventInput, at: number): boolean {
  const fed = fedBy(usage.base).get(event.event);
  if (!fed) return false;
  const moves: { readonly fed: Fed; readonly value: number; readonly unique: string | undefined }[] = [];
  for (const f of fed) {
    const c = meterContribution(f.meter.key, f.meter, event.properties);
    if (!c.ok) return false;
    if (at >= f.start && at < f.end) moves.push({ fed: f, value: c.value, unique: c.unique });
  }
  let moved = false;
  for (const { fed: f, value, unique } of moves) {
    if (unique !== undefined) {
      usage.uniques ??= new Map();
      let seen = usage.uniques.get(f.feature);
      if (!seen) {
        seen = new Set();
        usage.uniques.set(f.feature, seen);
      }
      if (seen.has(unique)) continue;
      seen.add(unique);
    }
    const used = usage.view.features[f.feature]?.used ?? 0;
    const next = combineTotals(f.meter.aggregation, used, value);
    if (next === used) continue;
    setUsed(usage, f.feature, next);
    moved = true;
  }
  return moved;
}
