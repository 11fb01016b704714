/** Test support: an account snapshot for the plays' triggers, with what a test does not name filled in. */
import type { AccountSignals, FeatureUsage, SubscriptionFacts } from "../plays/signals.ts";

export const at = (text: string) => new Date(text);

export const days = (n: number) => n * 86_400_000;

export function subscription(over: Partial<SubscriptionFacts> = {}): SubscriptionFacts {
  return {
    plan: "starter",
    interval: "month",
    status: "active",
    startedAt: at("2026-01-31T10:00:00Z"),
    planSince: at("2026-01-31T10:00:00Z"),
    periodStart: at("2026-05-31T10:00:00Z"),
    periodEnd: at("2026-06-30T10:00:00Z"),
    cancelAt: null,
    ...over,
  };
}

export function accountSignals(over: Partial<AccountSignals> = {}): AccountSignals {
  return {
    at: at("2026-06-10T12:00:00Z"),
    account: { createdAt: at("2026-01-20T09:00:00Z"), properties: {}, segment: "smb" },
    subscription: subscription(),
    usage: {},
    events: [],
    denied: [],
    invitesRefused: [],
    ...over,
  };
}

/** A usage reading that went from `before` to `after` used, of `limit`, in a window begun at `windowStart`. */
export function usage(
  before: number,
  after: number,
  limit: number | null,
  windowStart: Date | null = at("2026-05-31T10:00:00Z"),
): FeatureUsage {
  return { before: { used: before, limit }, after: { used: after, limit }, windowStart };
}
