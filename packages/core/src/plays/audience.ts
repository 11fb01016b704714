import type { Audience, PropertyMatch, Role } from "./document.ts";
import type { AccountSignals } from "./signals.ts";

/** The person a prompt would be for; null for account-level channels (email to admins, webhook, CRM). */
export interface AudienceMember {
  readonly role: Role;
  readonly properties: Readonly<Record<string, unknown>>;
}

/**
 * Who gets what: an admin (or the account, for account-level channels) gets the buy action; a member
 * gets "ask your admin", and the admins are told (docs/rules.md, auth).
 */
export type AudienceAction = "buy" | "ask_admin";

export type AudienceMatch =
  | { readonly matched: true; readonly action: AudienceAction }
  | { readonly matched: false; readonly reason: string };

type Facts = Pick<AccountSignals, "account" | "subscription">;

const list = (values: readonly unknown[]) => values.map(String).join(", ");

/**
 * Whether the account (and the member, when the prompt is for one) is in a play's audience. Every
 * rule named must hold; a rule not named admits everyone. Plans and intervals need a subscription
 * that has not ended; segments read the account's segment (core's accountSegment).
 */
export function matchAudience(
  audience: Audience,
  facts: Facts,
  member: AudienceMember | null,
): AudienceMatch {
  const sub = facts.subscription && facts.subscription.status !== "canceled" ? facts.subscription : null;
  if (audience.plans && !(sub && audience.plans.includes(sub.plan)))
    return {
      matched: false,
      reason: `the plan ${sub ? `"${sub.plan}"` : "(none)"} is not one of ${list(audience.plans)}`,
    };
  if (audience.intervals && !(sub && audience.intervals.includes(sub.interval)))
    return {
      matched: false,
      reason: `the interval ${sub ? `"${sub.interval}"` : "(none)"} is not one of ${list(audience.intervals)}`,
    };
  const segment = facts.account.segment;
  if (audience.segments && !audience.segments.includes(segment))
    return { matched: false, reason: `the segment ${segment} is not one of ${list(audience.segments)}` };
  const account = propertiesMismatch(audience.account, facts.account.properties);
  if (account) return { matched: false, reason: `account ${account}` };
  if (member) {
    if (audience.roles && !audience.roles.includes(member.role))
      return {
        matched: false,
        reason: `the member's role "${member.role}" is not one of ${list(audience.roles)}`,
      };
    const own = propertiesMismatch(audience.member, member.properties);
    if (own) return { matched: false, reason: `member ${own}` };
  } else if (audience.roles && !audience.roles.includes("admin")) {
    return { matched: false, reason: "the play is for members only, and this is for the account's admins" };
  }
  return { matched: true, action: member?.role === "member" ? "ask_admin" : "buy" };
}

/** The first property test that fails, described, or null when all hold. */
function propertiesMismatch(
  tests: Readonly<Record<string, PropertyMatch>> | undefined,
  properties: Readonly<Record<string, unknown>>,
): string | null {
  for (const [key, test] of Object.entries(tests ?? {})) {
    const value = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (!propertyHolds(test, value))
      return `property "${key}" (${JSON.stringify(value) ?? "unset"}) does not match ${JSON.stringify(test)}`;
  }
  return null;
}

/** A value equals a scalar test, is one of a list, or is a number within a range. */
export function propertyHolds(test: PropertyMatch, value: unknown): boolean {
  if (Array.isArray(test)) return test.some((t) => t === value);
  if (typeof test === "object") {
    if (typeof value !== "number" || !Number.isFinite(value)) return false;
    return (test.gte === undefined || value >= test.gte) && (test.lte === undefined || value <= test.lte);
  }
  return test === value;
}
