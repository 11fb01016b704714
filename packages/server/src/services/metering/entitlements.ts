import {
  type CheckDecision,
  type CheckInput,
  type CheckResult,
  cheapestUpgrade,
  checkResultOf,
  dayOf,
  decideCheck,
  type Entitlement,
  type EntitlementsView,
  isEndingAt,
  meteringCycle,
  type UpgradeOption,
  type UsageView,
  usageWindowAt,
} from "@uptier/core";
import { and, eq, gte, inArray, sql } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { meterWindowTotal } from "../../db/queries/meter-window-total.ts";
import { usageCounters } from "../../db/schema/index.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import {
  type AccountRef,
  type CatalogSnapshot,
  type Computed,
  type MeteringState,
  queryRows,
} from "./metering-state.ts";

export async function resolveAccount(state: MeteringState, db: Executor, ref: string): Promise<AccountRef> {
  const account = (await state.resolveAccounts(db, [ref])).get(ref);
  if (!account)
    throw new DomainError("resource_not_found", `No account "${ref}" (by id or external id).`, {
      param: "account",
    });
  return account;
}

const upgrades = new WeakMap<Computed, Map<string, UpgradeOption | null>>();

/** The cheapest upgrade for a decision, memoised on the cached entitlements it was computed from. */
function upgradeFor(
  computed: Computed,
  snapshot: CatalogSnapshot | null,
  entitlement: Entitlement | undefined,
  decision: CheckDecision,
  at: Date,
): UpgradeOption | null {
  const shape = computed.profile.shape;
  if (!entitlement || !shape || !snapshot || !computed.view.active) return null;
  // a subscription canceled at period end is quoted no change (subscription_ending): nothing to offer
  if (isEndingAt(computed.profile.subscription?.cycle.endsAt, at)) return null;
  const blocked =
    !decision.allowed && (decision.reason === "limit_reached" || decision.reason === "feature_not_in_plan");
  if (!blocked && !decision.nearLimit) return null;
  // Allowed but close: name the upgrade that raises the limit.
  const required = Math.max(
    decision.required ?? 0,
    decision.allowed && decision.limit !== null ? decision.limit + 1 : 0,
  );
  let memo = upgrades.get(computed);
  if (!memo) {
    memo = new Map();
    upgrades.set(computed, memo);
  }
  const key = `${entitlement.feature}\u0000${required}`;
  if (memo.has(key)) return memo.get(key) ?? null;
  const option = cheapestUpgrade(
    { currency: snapshot.catalog.currency, plans: snapshot.catalog.plans, addOns: snapshot.catalog.add_ons },
    shape,
    { feature: entitlement.feature, kind: entitlement.kind, required },
  );
  memo.set(key, option);
  return option;
}

function toResult(
  account: AccountRef,
  feature: string,
  decision: CheckDecision,
  upgrade: UpgradeOption | null,
  recorded: boolean,
): CheckResult {
  return checkResultOf(account.id, feature, decision, upgrade, recorded);
}

async function recordDenial(tx: Tx, result: CheckResult, quantity: number, at: Date): Promise<void> {
  await recordEvent(tx, {
    type: "entitlement.denied",
    accountId: result.account,
    data: {
      feature: result.feature,
      reason: result.reason,
      quantity,
      limit: result.limit,
      used: result.used,
      upgrade: result.upgrade ? { type: result.upgrade.type, key: result.upgrade.key } : null,
    },
    at,
  });
}

/**
 * A check answered from the in-memory entitlement cache: no database round trip unless it is
 * denied, which is recorded as a domain event (entitlement.denied — a signal for triggers). When the
 * account, its entitlements and the catalog are all cached and the check is allowed, the answer is
 * returned synchronously (no promise: this is the hot path of POST /v1/check).
 */
export function checkFromCache(
  state: MeteringState,
  input: CheckInput,
  at: Date,
  tx?: Tx,
): CheckResult | Promise<CheckResult> {
  const account = state.knownAccount(input.account);
  const computed = account && state.cachedEntitlements(account, at);
  const snapshot = state.loadedCatalog;
  if (account === undefined || computed === undefined || snapshot === undefined)
    return checkFromCacheAsync(state, input, at, tx);
  const result = decide(account, computed, snapshot, input, at);
  return result.allowed ? result : recordDenied(state, result, input, at, tx);
}

async function checkFromCacheAsync(
  state: MeteringState,
  input: CheckInput,
  at: Date,
  tx?: Tx,
): Promise<CheckResult> {
  // Inside the caller's transaction, everything is read through it (see MeteringState.entitlements).
  const db = tx ?? state.db;
  const account = await resolveAccount(state, db, input.account);
  const computed = await state.entitlements(account, db);
  const snapshot = await state.catalog(db);
  const result = decide(account, computed, snapshot, input, at);
  return result.allowed ? result : recordDenied(state, result, input, at, tx);
}

function decide(
  account: AccountRef,
  computed: Computed,
  snapshot: CatalogSnapshot | null,
  input: CheckInput,
  at: Date,
): CheckResult {
  const entitlement = Object.hasOwn(computed.view.features, input.feature)
    ? computed.view.features[input.feature]
    : undefined;
  const decision = decideCheck(entitlement, computed.view.active, input.quantity);
  return toResult(
    account,
    input.feature,
    decision,
    upgradeFor(computed, snapshot, entitlement, decision, at),
    false,
  );
}

async function recordDenied(
  state: MeteringState,
  result: CheckResult,
  input: CheckInput,
  at: Date,
  tx?: Tx,
): Promise<CheckResult> {
  await (tx
    ? recordDenial(tx, result, input.quantity, at)
    : state.db.transaction((t) => recordDenial(t, result, input.quantity, at)));
  return result;
}

/**
 * Check and record in one transaction: the counter (or gauge) row is locked, the decision is taken
 * on its fresh value, and when allowed the quantity is added — so concurrent check-and-record calls
 * can never together pass a hard limit.
 */
export async function checkAndRecord(
  tx: Tx,
  state: MeteringState,
  input: CheckInput,
  at: Date,
): Promise<{ result: CheckResult; touched: string | null }> {
  // Read through the transaction, never beside it: a cache entry invalidated since the route warmed
  // it is recomputed on `tx` (waiting for a second pool client while holding one can hang for good).
  const account = await resolveAccount(state, tx, input.account);
  const computed = await state.entitlements(account, tx);
  const snapshot = await state.catalog(tx);
  const entitlement = Object.hasOwn(computed.view.features, input.feature)
    ? computed.view.features[input.feature]
    : undefined;
  const unsupported = (why: string) =>
    new DomainError("record_not_supported", `"${input.feature}" cannot be recorded by a check: ${why}.`, {
      param: "record",
    });
  // A denial records the signal and changes no usage.
  const deny = async (seen: Entitlement | undefined, decision: CheckDecision) => {
    const result = toResult(
      account,
      input.feature,
      decision,
      upgradeFor(computed, snapshot, seen, decision, at),
      false,
    );
    await recordDenial(tx, result, input.quantity, at);
    return { result, touched: null };
  };
  if (!entitlement || !computed.view.active || !entitlement.granted)
    return deny(entitlement, decideCheck(entitlement, computed.view.active, input.quantity));
  let used: number;
  let write: () => Promise<void>;
  if (entitlement.kind === "metered") {
    const meterKey = snapshot?.catalog.features[input.feature]?.meter;
    const meter = meterKey ? snapshot?.meters[meterKey] : undefined;
    if (!meterKey || !meter) throw unsupported("it has no meter");
    if (meter.aggregation !== "count" && meter.aggregation !== "sum")
      throw unsupported(`its meter takes the ${meter.aggregation} of events; send events instead`);
    const start = usageWindowAt(meter.reset, meteringCycle(computed.profile), at).start.toISOString();
    const day = dayOf(at);
    // Lock today's row of the window (created if absent); every writer of this window's usage by
    // check takes the same lock, so the total read under it is the one the decision is made on.
    await queryRows(
      tx,
      sql`
      insert into usage_counters (account_id, meter, period_start, day, aggregation, value, updated_at)
      values (${account.id}, ${meterKey}, ${start}::timestamptz, ${day}::date, ${meter.aggregation}, 0, ${at.toISOString()}::timestamptz)
      on conflict do nothing`,
    );
    await queryRows(
      tx,
      sql`
      select 1 from usage_counters
      where account_id = ${account.id} and meter = ${meterKey} and period_start = ${start}::timestamptz and day = ${day}::date
      for update`,
    );
    const [total] = await queryRows<{ value: string | null }>(
      tx,
      sql`
      select ${meterWindowTotal(sql`aggregation`, sql`value`)} as value from usage_counters
      where account_id = ${account.id} and meter = ${meterKey} and period_start = ${start}::timestamptz`,
    );
    used = Number(total?.value ?? 0);
    write = async () => {
      await tx.execute(sql`
        update usage_counters set value = value + ${input.quantity}, updated_at = ${at.toISOString()}::timestamptz
        where account_id = ${account.id} and meter = ${meterKey} and period_start = ${start}::timestamptz and day = ${day}::date`);
    };
  } else if (entitlement.kind === "limit") {
    const locked = await queryRows<{ value: string }>(
      tx,
      sql`
      with ensure as (
        insert into usage_gauges (account_id, feature, value, updated_at)
        values (${account.id}, ${input.feature}, 0, ${at.toISOString()}::timestamptz)
        on conflict do nothing
      )
      select value from usage_gauges where account_id = ${account.id} and feature = ${input.feature} for update`,
    );
    used = Number(locked[0]?.value ?? 0);
    write = async () => {
      await tx.execute(sql`
        insert into usage_gauges (account_id, feature, value, updated_at)
        values (${account.id}, ${input.feature}, ${input.quantity}, ${at.toISOString()}::timestamptz)
        on conflict (account_id, feature) do update set
          value = usage_gauges.value + excluded.value, updated_at = excluded.updated_at`);
    };
  } else {
    throw unsupported(
      entitlement.kind === "seats" ? "seats are taken by inviting members" : "a boolean feature has no usage",
    );
  }
  const fresh = { ...entitlement, used };
  const decision = decideCheck(fresh, true, input.quantity);
  if (!decision.allowed) return deny(fresh, decision);
  await write();
  await recordEvent(tx, {
    type: "usage.recorded",
    accountId: account.id,
    data: { accounts: [account.id], feature: input.feature, quantity: input.quantity, by: "check" },
    at,
  });
  const after = decideCheck({ ...fresh, used: used + input.quantity }, true, 0);
  const result = toResult(
    account,
    input.feature,
    { ...decision, used: after.used, remaining: after.remaining, ratio: after.ratio },
    upgradeFor(computed, snapshot, fresh, decision, at),
    true,
  );
  return { result, touched: account.id };
}

export async function entitlementsOf(state: MeteringState, ref: string): Promise<EntitlementsView> {
  const account = await resolveAccount(state, state.db, ref);
  return (await state.entitlements(account)).view;
}

export async function setGauge(
  tx: Tx,
  state: MeteringState,
  accountId: string,
  feature: string,
  value: number,
  at: Date,
): Promise<EntitlementsView["features"][string]> {
  const account = (await state.resolveAccounts(tx, [accountId])).get(accountId);
  if (!account || account.id !== accountId) throw notFound("account", accountId);
  const snapshot = await state.catalog(tx);
  const definition = snapshot?.catalog.features[feature];
  if (!definition || !Object.hasOwn(snapshot.catalog.features, feature))
    throw new DomainError("unknown_feature", `No feature "${feature}" in the catalog.`, {
      param: "feature",
    });
  if (definition.kind !== "limit")
    throw new DomainError(
      "not_a_limit_feature",
      `"${feature}" is a ${definition.kind} feature: only limit features take a reported value${definition.kind === "metered" ? " (send usage events instead)" : ""}.`,
      { param: "feature" },
    );
  await tx.execute(sql`
    insert into usage_gauges (account_id, feature, value, updated_at)
    values (${accountId}, ${feature}, ${value}, ${at.toISOString()}::timestamptz)
    on conflict (account_id, feature) do update set value = excluded.value, updated_at = excluded.updated_at`);
  await recordEvent(tx, { type: "usage.gauge_set", accountId, data: { feature, value }, at });
  const computed = await state.entitlements(account, tx);
  const current = computed.view.features[feature] as Entitlement;
  return { ...current, used: value };
}

const HISTORY_DAYS = 92;

/** Usage for people: each feature's use against its limit in the current window, and daily history. */
export async function usageReport(state: MeteringState, accountId: string, at: Date): Promise<UsageView> {
  const account = (await state.resolveAccounts(state.db, [accountId])).get(accountId);
  if (!account || account.id !== accountId) throw notFound("account", accountId);
  const computed = await state.entitlements(account);
  const snapshot = await state.catalog();
  // The billing period of the live subscription; an ended one has none (its metered features show
  // the window after the end: core's usageWindowAt).
  const cycle = computed.profile.subscription?.cycle ?? null;
  const period = cycle ? usageWindowAt("billing_period", cycle, at) : null;
  const meterOf = (feature: string) => snapshot?.catalog.features[feature]?.meter;
  const metered = Object.values(computed.view.features).filter(
    (f) => f.kind === "metered" && meterOf(f.feature),
  );
  const floor = new Date(at.getTime() - HISTORY_DAYS * 86_400_000);
  const starts = metered.map((f) => (f.period_start ? new Date(f.period_start) : floor));
  const earliest = new Date(Math.min(at.getTime(), ...starts.map((s) => s.getTime())));
  const from = dayOf(earliest < floor ? floor : earliest);
  const rows =
    metered.length === 0
      ? []
      : await state.db
          .select({
            meter: usageCounters.meter,
            day: usageCounters.day,
            value: meterWindowTotal(usageCounters.aggregation, usageCounters.value),
          })
          .from(usageCounters)
          .where(
            and(
              eq(usageCounters.accountId, account.id),
              inArray(
                usageCounters.meter,
                metered.map((f) => meterOf(f.feature) as string),
              ),
              gte(usageCounters.day, from),
            ),
          )
          .groupBy(usageCounters.meter, usageCounters.day);
  const today = dayOf(at);
  return {
    object: "usage",
    account: account.id,
    period: period?.end ? { start: period.start.toISOString(), end: period.end.toISOString() } : null,
    features: Object.values(computed.view.features)
      .filter((f) => f.kind !== "boolean")
      .map((f) => {
        const meter = meterOf(f.feature);
        let daily: { date: string; value: number }[] | null = null;
        if (f.kind === "metered" && meter) {
          const start = f.period_start ? new Date(f.period_start) : floor;
          const values = new Map(rows.filter((r) => r.meter === meter).map((r) => [r.day, Number(r.value)]));
          daily = [];
          for (
            let t = (start < floor ? floor : start).getTime();
            dayOf(new Date(t)) <= today;
            t += 86_400_000
          ) {
            const date = dayOf(new Date(t));
            daily.push({ date, value: values.get(date) ?? 0 });
          }
        }
        const used = f.used ?? 0;
        return {
          feature: f.feature,
          kind: f.kind,
          name: f.name,
          used,
          limit: f.limit,
          unlimited: f.unlimited,
          ratio: f.limit === null ? null : f.limit > 0 ? used / f.limit : 1,
          period_start: f.period_start,
          resets_at: f.resets_at,
          daily,
        };
      }),
  };
}
