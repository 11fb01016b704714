import {
  type AccountSignals,
  accountSegment,
  annualContractValue,
  type DeniedCheck,
  type Entitlement,
  type Playbook,
  type ProductEvent,
  type PropertyValue,
  type ResolvedCatalog,
  type Role,
  type SubscriptionFacts,
  type SubscriptionStatus,
  type UsageReading,
} from "@uptier/core";
import { and, desc, eq, gt, lte, or, type SQL, sql } from "drizzle-orm";
import type { Db, Executor } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { accounts, domainEvents, members, promptUsageMarks, usageEvents } from "../../db/schema/index.ts";
import { notFound } from "../errors.ts";
import { MeteringState } from "../metering/metering-state.ts";
import { liveSubscriptionsOf, type SubscriptionRecord } from "../subscriptions/records.ts";

/**
 * Builds one account's AccountSignals (core/plays/signals.ts) from its records at an instant: the
 * subscription, each feature's usage against its limit (the metering's own entitlement
 * computation), the named events the playbook counts, refused checks and refused invites. Usage
 * "before" is the last reading the evaluation saw (prompt_usage_marks), so a usage trigger fires on
 * the evaluation that crosses its ratio whatever batch of events carried it.
 */

/** A member a prompt can be for: an active member with the vendor's user id. */
export interface PromptMember {
  readonly id: string;
  readonly user: string;
  readonly role: Role;
  readonly email: string;
  readonly name: string | null;
  /** what the audience's `member:` rules test */
  readonly properties: Readonly<Record<string, PropertyValue>>;
}

export interface AccountState {
  readonly signals: AccountSignals;
  readonly name: string;
  readonly record: SubscriptionRecord | null;
  readonly members: readonly PromptMember[];
  readonly seatsInUse: number;
  readonly catalog: ResolvedCatalog | null;
  /** the current readings, to remember as the next evaluation's "before" */
  readonly readings: ReadonlyMap<
    string,
    { readonly reading: UsageReading; readonly windowStart: Date | null }
  >;
}

const DAY_MS = 86_400_000;
/** how far back refused checks and invites are read: longer than any billing period */
const SIGNAL_HISTORY_DAYS = 400;

export async function loadAccountState(
  db: Executor,
  accountId: string,
  playbook: Playbook,
  at: Date,
  options: { readonly usageBefore: "marks" | "same" } = { usageBefore: "marks" },
): Promise<AccountState> {
  const [account] = await db.select().from(accounts).where(eq(accounts.id, accountId));
  if (!account) throw notFound("account", accountId);
  const record = (await liveSubscriptionsOf(db, [accountId], at)).get(accountId) ?? null;
  // A throwaway metering state: entitlements computed through `db` (maybe the handler's
  // transaction), never cached beyond this call.
  const metering = new MeteringState(db as Db, () => at);
  const computed = await metering.entitlements({ id: account.id, externalId: account.externalId }, db);
  const catalog = (await metering.catalog(db))?.catalog ?? null;
  const marks =
    options.usageBefore === "marks"
      ? await db.select().from(promptUsageMarks).where(eq(promptUsageMarks.accountId, accountId))
      : [];
  const usage: Record<string, AccountSignals["usage"][string]> = {};
  const readings = new Map<string, { reading: UsageReading; windowStart: Date | null }>();
  for (const f of Object.values(computed.view.features) as Entitlement[]) {
    if (f.used === null) continue;
    const after: UsageReading = { used: f.used, limit: f.unlimited || !f.granted ? null : f.limit };
    const windowStart = f.period_start ? new Date(f.period_start) : null;
    readings.set(f.feature, { reading: after, windowStart });
    const mark = marks.find((m) => m.feature === f.feature);
    const sameWindow = mark && (mark.windowStart?.getTime() ?? null) === (windowStart?.getTime() ?? null);
    const before: UsageReading =
      options.usageBefore === "same"
        ? after
        : sameWindow
          ? { used: mark.used, limit: mark.limit }
          : { used: 0, limit: after.limit };
    usage[f.feature] = { before, after, windowStart };
  }
  const properties = (account.properties ?? {}) as Record<string, unknown>;
  const since = new Date(at.getTime() - SIGNAL_HISTORY_DAYS * DAY_MS);
  const [events, denied, invitesRefused, planSince, people, seats] = await Promise.all([
    productEvents(db, accountId, playbook, at),
    deniedChecks(db, accountId, since, at),
    refusedInvites(db, accountId, since, at, record?.row.seats ?? 0),
    record ? planSinceOf(db, record) : Promise.resolve(null),
    db
      .select()
      .from(members)
      .where(and(eq(members.accountId, accountId), eq(members.status, "active"))),
    seatsInUse(db, accountId),
  ]);
  return {
    name: account.name,
    record,
    catalog,
    seatsInUse: seats,
    readings,
    members: people
      .filter((m) => m.externalUserId !== null)
      .map((m) => ({
        id: m.id,
        user: m.externalUserId as string,
        role: m.role === "admin" ? "admin" : "member",
        email: m.email,
        name: m.name,
        properties: m.properties as Record<string, PropertyValue>,
      })),
    signals: {
      at,
      account: {
        createdAt: account.createdAt,
        properties,
        segment: accountSegment(
          properties,
          record ? { amount: annualContractValue(record.shape), currency: record.currency } : null,
        ),
      },
      subscription: record && planSince ? subscriptionFacts(record, planSince) : null,
      usage,
      events,
      denied,
      invitesRefused,
    },
  };
}

/** Remembers the readings the evaluation saw, as the next one's "before". */
export async function markUsage(db: Executor, accountId: string, state: AccountState, at: Date) {
  const rows = [...state.readings].map(([feature, { reading, windowStart }]) => ({
    accountId,
    feature,
    windowStart,
    used: Math.trunc(reading.used),
    limit: reading.limit,
    updatedAt: at,
  }));
  if (rows.length === 0) return;
  await db
    .insert(promptUsageMarks)
    .values(rows)
    .onConflictDoUpdate({
      target: [promptUsageMarks.accountId, promptUsageMarks.feature],
      set: {
        windowStart: sql`excluded.window_start`,
        used: sql`excluded.used`,
        limit: sql`excluded.limit`,
        updatedAt: sql`excluded.updated_at`,
      },
    });
}

function subscriptionFacts(record: SubscriptionRecord, planSince: Date): SubscriptionFacts {
  const { row, state } = record;
  return {
    plan: row.planKey,
    interval: row.interval as "month" | "year",
    status: state.status as SubscriptionStatus,
    startedAt: row.createdAt,
    planSince,
    periodStart: state.currentPeriodStart ?? row.createdAt,
    periodEnd: state.currentPeriodEnd ?? row.createdAt,
    cancelAt: row.cancelAt,
  };
}

/** When the current plan began: the last update that changed the plan, or the subscription's start. */
async function planSinceOf(db: Executor, record: SubscriptionRecord): Promise<Date> {
  const [changed] = await db
    .select({ at: domainEvents.createdAt })
    .from(domainEvents)
    .where(
      and(
        eq(domainEvents.accountId, record.row.accountId),
        eq(domainEvents.type, "subscription.updated"),
        sql`${domainEvents.data}->'subscription'->>'id' = ${record.id}`,
        sql`${domainEvents.data}->'previous'->>'plan' is distinct from ${domainEvents.data}->'subscription'->>'plan'`,
      ),
    )
    .orderBy(desc(domainEvents.seq))
    .limit(1);
  return changed?.at ?? record.row.createdAt;
}

/** The names the playbook's event_count triggers count, with the most events and the longest window. */
function countedEvents(playbook: Playbook): Map<string, { count: number; days: number | null }> {
  const names = new Map<string, { count: number; days: number | null }>();
  for (const play of playbook.plays) {
    if (play.trigger.kind !== "event_count") continue;
    const { event, count, within_days } = play.trigger;
    const seen = names.get(event) ?? { count: 0, days: 0 };
    names.set(event, {
      count: Math.max(seen.count, count),
      days: within_days === undefined || seen.days === null ? null : Math.max(seen.days, within_days),
    });
  }
  return names;
}

/**
 * The named events up to `at`: usage events the vendor sends and Uptier's own member events. Per
 * name, the last `count` and every one within twice the longest window (an episode's start and
 * the events before it).
 */
async function productEvents(
  db: Executor,
  accountId: string,
  playbook: Playbook,
  at: Date,
): Promise<ProductEvent[]> {
  const out: ProductEvent[] = [];
  for (const [name, { count, days }] of countedEvents(playbook)) {
    const take = Math.min(10_000, Math.max(count, days === null ? count : 10_000));
    const floor = days === null ? null : new Date(at.getTime() - 2 * days * DAY_MS);
    if (name.startsWith("member.")) {
      const rows = await accountEvents(db, accountId, eq(domainEvents.type, name), floor, at, take);
      for (const r of rows) out.push({ name, at: r.at });
      continue;
    }
    const rows = await db
      .select({ at: usageEvents.timestamp })
      .from(usageEvents)
      .where(
        and(
          eq(usageEvents.accountId, accountId),
          eq(usageEvents.event, name),
          lte(usageEvents.timestamp, at),
          floor ? gt(usageEvents.timestamp, floor) : undefined,
        ),
      )
      .orderBy(desc(usageEvents.timestamp))
      .limit(take);
    for (const r of rows) out.push({ name, at: r.at });
  }
  return out;
}

async function deniedChecks(db: Executor, accountId: string, since: Date, at: Date): Promise<DeniedCheck[]> {
  const rows = await accountEvents(
    db,
    accountId,
    eq(domainEvents.type, "entitlement.denied"),
    since,
    at,
    1000,
  );
  return rows.map((r) => {
    const data = r.data as { feature: string; reason: string };
    return { feature: data.feature, reason: data.reason, at: r.at };
  });
}

/**
 * Invites that needed a seat the subscription did not have: refused (member.invite_refused), or
 * sent by a member, so the admins were asked to approve one (admin_approval.requested).
 */
async function refusedInvites(db: Executor, accountId: string, since: Date, at: Date, seats: number) {
  const refused = or(
    eq(domainEvents.type, "member.invite_refused"),
    and(
      eq(domainEvents.type, "admin_approval.requested"),
      sql`${domainEvents.data}->>'invite_email' is not null`,
    ),
  ) as SQL;
  const rows = await accountEvents(db, accountId, refused, since, at, 100);
  // the seats when it was refused (an approval request does not say: the seats now)
  return rows.map((r) => {
    const then = (r.data as { seats?: unknown }).seats;
    return { at: r.at, seats: typeof then === "number" ? then : seats };
  });
}

/** An account's domain events of the kinds `which` names, after `since` up to `at`, newest first. */
function accountEvents(
  db: Executor,
  accountId: string,
  which: SQL,
  since: Date | null,
  at: Date,
  limit: number,
) {
  return db
    .select({ data: domainEvents.data, at: domainEvents.createdAt })
    .from(domainEvents)
    .where(
      and(
        eq(domainEvents.accountId, accountId),
        which,
        since ? gt(domainEvents.createdAt, since) : undefined,
        lte(domainEvents.createdAt, at),
      ),
    )
    .orderBy(desc(domainEvents.seq))
    .limit(limit);
}
