import type { FeatureDefinition, Grant, MeterDefinition } from "../catalog/document.ts";
import { type BillingCycle, usageWindowAt } from "../metering/meters.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import type { SubscriptionStatus } from "../subscriptions/state.ts";
import type { Entitlement, EntitlementsView } from "./api.ts";

/**
 * The grant a shape gives a feature: the plan's, plus every add-on's grant × its quantity, at most
 * Number.MAX_SAFE_INTEGER.
 */
export type CombinedGrant = {
  readonly on: boolean;
  readonly limit: number | null;
  readonly unlimited: boolean;
};

const NOT_GRANTED: CombinedGrant = { on: false, limit: null, unlimited: false };

function addGrant(acc: CombinedGrant, grant: Grant | undefined, times: number): CombinedGrant {
  if (grant === undefined || grant === false || times <= 0) return acc;
  if (grant === "unlimited") return { on: true, limit: null, unlimited: true };
  if (acc.unlimited) return acc;
  if (grant === true) return { on: true, limit: acc.limit, unlimited: false };
  // Held at 2^53 − 1 (no usage reaches it) rather than let a float sum lose its exactness.
  const limit = Math.min((acc.limit ?? 0) + grant * times, Number.MAX_SAFE_INTEGER);
  return { on: true, limit, unlimited: false };
}

/**
 * Combines grants: "unlimited" wins, numbers add up (an add-on's per unit), `true` turns a boolean
 * feature on. A feature nobody grants is not in the plan — never "allowed".
 */
export function combinedGrant(feature: string, shape: SubscriptionShape): CombinedGrant {
  let acc = addGrant(NOT_GRANTED, own(shape.plan.grants, feature), 1);
  for (const addOn of shape.addOns)
    acc = addGrant(acc, own(addOn.definition.grants, feature), addOn.quantity);
  return acc;
}

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export interface AccountUsage {
  /** meter totals in the window of `at`, by meter key */
  readonly meters: Readonly<Record<string, number>>;
  /** reported gauges of limit features, by feature key */
  readonly gauges: Readonly<Record<string, number>>;
  /** invited + active members */
  readonly seats: number;
}

export interface EntitlementSubscription {
  readonly status: SubscriptionStatus;
  readonly shape: SubscriptionShape;
  readonly cycle: BillingCycle;
  readonly currentPeriodEnd: Date | null;
  readonly currency: string;
}

export interface EntitlementSource {
  readonly account: { readonly id: string; readonly externalId: string };
  readonly features: Readonly<Record<string, FeatureDefinition>>;
  readonly meters: Readonly<Record<string, MeterDefinition>>;
  /** the live subscription, or null when the account has none */
  readonly subscription: EntitlementSubscription | null;
  /**
   * With no live subscription, the cycle of the one that ended last, its `endsAt` set; null when
   * the account never had one. Its meters are counted by it (meteringCycle).
   */
  readonly ended: BillingCycle | null;
  readonly usage: AccountUsage;
  readonly at: Date;
}

export const isActiveStatus = (status: SubscriptionStatus) => status !== "canceled";

/**
 * The cycle an account's billing_period meters follow (usageWindowAt): its live subscription's;
 * else the one that ended last, so an event from before the end still counts in that
 * subscription's period and one from after it in a window of its own; else none (calendar months).
 * Every writer and reader of usage windows asks this, so they all agree.
 */
export function meteringCycle(source: {
  readonly subscription: EntitlementSubscription | null;
  readonly ended: BillingCycle | null;
}): BillingCycle | null {
  const live = source.subscription;
  return live && isActiveStatus(live.status) ? live.cycle : source.ended;
}

/**
 * Every feature's entitlement for an account at an instant: plan grants + add-on grants, against
 * usage (meter totals in the current window, reported gauges, seats in use). Pure. An account whose
 * subscription has ended is inactive, and its metered features show the window `at` falls in after
 * the end (the usage since the end), never the ended period's.
 */
export function computeEntitlements(source: EntitlementSource): EntitlementsView {
  const sub = source.subscription && isActiveStatus(source.subscription.status) ? source.subscription : null;
  const cycle = meteringCycle(source);
  const features: Record<string, Entitlement> = {};
  let validUntil: number | null = sub?.currentPeriodEnd?.getTime() ?? null;
  const until = (d: Date | null) => {
    if (d && (validUntil === null || d.getTime() < validUntil)) validUntil = d.getTime();
  };
  for (const [key, def] of Object.entries(source.features)) {
    const base = { feature: key, kind: def.kind, name: def.name };
    if (def.kind === "seats") {
      features[key] = {
        ...base,
        granted: sub !== null,
        limit: sub ? sub.shape.seats : null,
        unlimited: false,
        used: source.usage.seats,
        overage: null,
        period_start: null,
        resets_at: null,
      };
      continue;
    }
    const grant = sub ? combinedGrant(key, sub.shape) : NOT_GRANTED;
    if (def.kind === "boolean") {
      features[key] = {
        ...base,
        granted: grant.on,
        limit: null,
        unlimited: false,
        used: null,
        overage: null,
        period_start: null,
        resets_at: null,
      };
      continue;
    }
    if (def.kind === "limit") {
      features[key] = {
        ...base,
        granted: grant.on,
        limit: grant.unlimited ? null : grant.limit,
        unlimited: grant.unlimited,
        used: own(source.usage.gauges, key) ?? 0,
        overage: null,
        period_start: null,
        resets_at: null,
      };
      continue;
    }
    const meter = def.meter ? own(source.meters, def.meter) : undefined;
    const window = meter ? usageWindowAt(meter.reset, cycle, source.at) : null;
    until(window?.end ?? null);
    const overage = def.overage ?? { policy: "hard" as const };
    features[key] = {
      ...base,
      granted: grant.on,
      limit: grant.unlimited ? null : grant.limit,
      unlimited: grant.unlimited,
      used: (def.meter ? own(source.usage.meters, def.meter) : undefined) ?? 0,
      overage: {
        policy: overage.policy,
        grace_percent: overage.policy === "soft" ? overage.grace_percent : null,
      },
      period_start: window?.start.toISOString() ?? null,
      resets_at: window?.end?.toISOString() ?? null,
      ...(meter && def.meter ? { meter: { key: def.meter, ...meter } } : {}),
    };
  }
  const v: number | null = validUntil;
  return {
    object: "entitlements",
    account: source.account.id,
    external_id: source.account.externalId,
    active: sub !== null,
    status: source.subscription?.status ?? "none",
    plan: sub?.shape.plan.key ?? null,
    currency: sub?.currency ?? null,
    computed_at: source.at.toISOString(),
    valid_until: v === null ? null : new Date(v).toISOString(),
    features,
  };
}
