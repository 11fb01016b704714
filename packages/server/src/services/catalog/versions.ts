import type { AddOnDefinition, ResolvedPlan } from "@uptier/core";
import { inArray } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { addOnVersions, planVersions } from "../../db/schema/index.ts";

/**
 * Plan and add-on versions by id. A version is never changed once written (a catalog change makes a
 * new one) and its id is globally unique, so a version read once can be kept for the life of the
 * process: a quote's locked prices cost no query when they are priced again at checkout.
 */
export interface VersionDefinitions {
  readonly plans: ReadonlyMap<string, ResolvedPlan>;
  readonly addOns: ReadonlyMap<string, AddOnDefinition>;
}

const MAX_CACHED = 10_000;
const plans = new Map<string, ResolvedPlan>();
const addOns = new Map<string, AddOnDefinition>();

function remember<T>(cache: Map<string, T>, id: string, value: T): void {
  // catalogs hold tens of versions; a bound keeps a pathological one from growing without limit
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(id, value);
}

export async function versionDefinitions(
  db: Executor,
  wanted: { plans: readonly string[]; addOns: readonly string[] },
): Promise<VersionDefinitions> {
  const missingPlans = wanted.plans.filter((id) => !plans.has(id));
  const missingAddOns = wanted.addOns.filter((id) => !addOns.has(id));
  const [planRows, addOnRows] = await Promise.all([
    missingPlans.length === 0
      ? []
      : db
          .select({ id: planVersions.id, definition: planVersions.definition })
          .from(planVersions)
          .where(inArray(planVersions.id, missingPlans)),
    missingAddOns.length === 0
      ? []
      : db
          .select({ id: addOnVersions.id, definition: addOnVersions.definition })
          .from(addOnVersions)
          .where(inArray(addOnVersions.id, missingAddOns)),
  ]);
  for (const row of planRows) remember(plans, row.id, row.definition as ResolvedPlan);
  for (const row of addOnRows) remember(addOns, row.id, row.definition as AddOnDefinition);
  const pick = <T>(cache: Map<string, T>, ids: readonly string[], kind: string) =>
    new Map(
      ids.map((id) => {
        const value = cache.get(id);
        if (value === undefined) throw new Error(`missing ${kind} version ${id}`);
        return [id, value] as const;
      }),
    );
  return { plans: pick(plans, wanted.plans, "plan"), addOns: pick(addOns, wanted.addOns, "add-on") };
}
