import type { CheckReason, CheckResult, Entitlement, UpgradeOption } from "./api.ts";

export interface CheckDecision {
  readonly allowed: boolean;
  readonly reason: CheckReason;
  readonly kind: Entitlement["kind"] | null;
  readonly limit: number | null;
  readonly used: number | null;
  readonly remaining: number | null;
  readonly ratio: number | null;
  readonly resetsAt: string | null;
  /** the total the account would need for this request (used + quantity); null for boolean features */
  readonly required: number | null;
  /** the request is allowed but at or beyond 80% of the limit: worth naming the upgrade */
  readonly nearLimit: boolean;
}

export const NEAR_LIMIT_RATIO = 0.8;

function decision(
  allowed: boolean,
  reason: CheckReason,
  kind: Entitlement["kind"] | null,
  resetsAt: string | null,
  limit: number | null = null,
  used: number | null = null,
  required: number | null = null,
  nearLimit = false,
): CheckDecision {
  // Built in one literal (no spreads): the SDK answers millions of these a second.
  return {
    allowed,
    reason,
    kind,
    limit,
    used,
    remaining: limit === null || used === null ? null : Math.max(0, limit - used),
    ratio: limit === null || used === null ? null : limit > 0 ? used / limit : 1,
    resetsAt,
    required,
    nearLimit,
  };
}

/**
 * The check decision, the same on the server and in the SDK's cache. A missing entitlement never
 * answers "allowed": an unknown feature, an inactive account or a feature outside the plan is denied.
 * Limits: used + quantity within the limit is allowed; beyond it a soft metered feature is allowed up
 * to limit × (1 + grace%), a billed one always (the overage is priced by billing), anything else not.
 */
export function decideCheck(
  entitlement: Entitlement | undefined,
  accountActive: boolean,
  quantity = 1,
): CheckDecision {
  if (!entitlement) return decision(false, "unknown_feature", null, null);
  const { kind, resets_at: resetsAt } = entitlement;
  if (!accountActive) return decision(false, "account_inactive", kind, resetsAt);
  if (!entitlement.granted) return decision(false, "feature_not_in_plan", kind, resetsAt);
  if (kind === "boolean") return decision(true, "within_limit", kind, resetsAt);
  const used = entitlement.used ?? 0;
  const required = used + quantity;
  if (entitlement.unlimited || entitlement.limit === null)
    return decision(true, "within_limit", kind, resetsAt, null, used, required);
  const limit = entitlement.limit;
  if (required <= limit)
    return decision(
      true,
      "within_limit",
      kind,
      resetsAt,
      limit,
      used,
      required,
      required >= NEAR_LIMIT_RATIO * limit,
    );
  const overage = kind === "metered" ? entitlement.overage : null;
  if (overage?.policy === "billed")
    return decision(true, "overage_billed", kind, resetsAt, limit, used, required, true);
  if (overage?.policy === "soft" && required <= graceLimit(limit, overage.grace_percent ?? 0))
    return decision(true, "soft_limit_grace", kind, resetsAt, limit, used, required, true);
  return decision(false, "limit_reached", kind, resetsAt, limit, used, required);
}

/** The most a soft limit lets through: limit × (1 + grace%), rounded down to a whole unit. */
export function graceLimit(limit: number, gracePercent: number): number {
  return Math.floor((limit * (100 + gracePercent)) / 100);
}

/** The wire answer of a check, built from its decision: the one shape the server and the SDK send. */
export function checkResultOf(
  account: string,
  feature: string,
  decision: CheckDecision,
  upgrade: UpgradeOption | null,
  recorded: boolean,
): CheckResult {
  return {
    object: "check",
    account,
    feature,
    allowed: decision.allowed,
    kind: decision.kind,
    limit: decision.limit,
    used: decision.used,
    remaining: decision.remaining,
    ratio: decision.ratio,
    resetsAt: decision.resetsAt,
    reason: decision.reason,
    upgrade,
    recorded,
  };
}
