import type { AddOnDefinition, ResolvedPlan, SubscribedAddOn } from "@uptier/core";
import { eq, inArray } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { addOns, addOnVersions, plans, planVersions } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";

/**
 * What the catalog sells now: each plan and add-on at its current version, unless archived. A new
 * subscription and a change to another plan or add-on buy from here; what a subscription already
 * has keeps its pinned version (catalog/versions.ts).
 */

function violation(code: string, param: string, message: string) {
  return new DomainError(code, message, { param });
}

/** A plan or add-on with its current version, as the catalog tables hold them. */
export type PlanOnSale = { plan: typeof plans.$inferSelect; version: typeof planVersions.$inferSelect };
export type AddOnOnSale = { addOn: typeof addOns.$inferSelect; version: typeof addOnVersions.$inferSelect };

/** The plan on sale under `key` (its current version), or unknown_plan. */
export function planOnSale(row: PlanOnSale | undefined, key: string, param = "plan") {
  if (!row || row.plan.archivedAt)
    throw violation("unknown_plan", param, `No plan with key "${key}" is on sale.`);
  return {
    id: row.version.id,
    version: row.version.version,
    currency: row.version.currency,
    definition: row.version.definition as ResolvedPlan,
  };
}

function refuseDuplicateAddOns(selections: readonly { key: string }[]): void {
  const seen = new Set<string>();
  selections.forEach((s, i) => {
    if (seen.has(s.key))
      throw violation("duplicate_add_on", `add_ons[${i}].key`, `The add-on "${s.key}" is listed twice.`);
    seen.add(s.key);
  });
}

/** The add-ons selected, each at its current version: duplicate_add_on or unknown_add_on otherwise. */
export function addOnsOnSale(
  selections: readonly { key: string; quantity: number }[],
  rowOf: (key: string) => AddOnOnSale | undefined,
) {
  refuseDuplicateAddOns(selections);
  return selections.map((s, i) => {
    const row = rowOf(s.key);
    if (!row || row.addOn.archivedAt)
      throw violation("unknown_add_on", `add_ons[${i}].key`, `No add-on with key "${s.key}" is on sale.`);
    return {
      versionId: row.version.id,
      version: row.version.version,
      currency: row.version.currency,
      selected: {
        key: s.key,
        quantity: s.quantity,
        definition: row.version.definition as AddOnDefinition,
      } satisfies SubscribedAddOn,
    };
  });
}

/** Every plan with its current version (archived ones included: on-sale rules decide). */
export function plansWithCurrentVersion(db: Executor, keys?: readonly string[]): Promise<PlanOnSale[]> {
  const query = db
    .select({ plan: plans, version: planVersions })
    .from(plans)
    .innerJoin(planVersions, eq(planVersions.id, plans.currentVersionId));
  return keys ? query.where(inArray(plans.key, [...keys])) : query;
}

/** Every add-on with its current version (archived ones included). */
export function addOnsWithCurrentVersion(db: Executor, keys?: readonly string[]): Promise<AddOnOnSale[]> {
  const query = db
    .select({ addOn: addOns, version: addOnVersions })
    .from(addOns)
    .innerJoin(addOnVersions, eq(addOnVersions.id, addOns.currentVersionId));
  return keys ? query.where(inArray(addOns.key, [...keys])) : query;
}

export async function resolvePlan(db: Executor, key: string, param = "plan") {
  const [row] = await plansWithCurrentVersion(db, [key]);
  return planOnSale(row, key, param);
}

export async function resolveAddOns(db: Executor, selections: readonly { key: string; quantity: number }[]) {
  refuseDuplicateAddOns(selections);
  if (selections.length === 0) return [];
  const rows = await addOnsWithCurrentVersion(
    db,
    selections.map((s) => s.key),
  );
  return addOnsOnSale(selections, (key) => rows.find((r) => r.addOn.key === key));
}
