import { createHash } from "node:crypto";
import type { AddOnDefinition, MeterDefinition, ResolvedCatalog, ResolvedPlan } from "@uptier/core";
import { and, desc, eq, isNull, max, notInArray } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import {
  addOns,
  addOnVersions,
  catalogVersions,
  features,
  meters,
  plans,
  planVersions,
} from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { recordEvent } from "../events/append.ts";
import { requirePlaybookStillValid } from "./playbook-guard.ts";

export interface CatalogChange {
  readonly kind: "feature" | "meter" | "plan" | "add_on";
  readonly key: string;
  readonly change: "created" | "new_version" | "archived" | "updated";
  readonly version?: number;
}

export interface CatalogApplyResult {
  readonly version: number;
  readonly changed: boolean;
  readonly changes: readonly CatalogChange[];
}

const hashOf = (value: unknown) => createHash("sha256").update(canonicalJson(value)).digest("hex");

/**
 * Applies a validated catalog. Prices, plans, add-ons and meters are versioned, never edited in place:
 * a changed definition becomes a new version and the old one stays for the subscriptions that bought
 * it (grandfathering). Keys missing from the file are archived, not deleted. Applying the same
 * catalog twice changes nothing. A catalog the playbook in force would not validate against is
 * refused (catalog_breaks_playbook), nothing applied.
 */
export async function applyCatalog(tx: Tx, catalog: ResolvedCatalog, at: Date): Promise<CatalogApplyResult> {
  await requirePlaybookStillValid(tx, catalog);
  const hash = hashOf(catalog);
  const [latest] = await tx.select().from(catalogVersions).orderBy(desc(catalogVersions.version)).limit(1);
  if (latest?.hash === hash) return { version: latest.version, changed: false, changes: [] };
  const version = (latest?.version ?? 0) + 1;
  const changes: CatalogChange[] = [];

  for (const [key, feature] of Object.entries(catalog.features)) {
    const [existing] = await tx.select().from(features).where(eq(features.key, key));
    const row = {
      kind: feature.kind,
      name: feature.name,
      definition: feature,
      catalogVersion: version,
      archivedAt: null,
    };
    if (!existing) {
      await tx.insert(features).values({ key, ...row });
      changes.push({ kind: "feature", key, change: "created" });
    } else if (hashOf(existing.definition) !== hashOf(feature) || existing.archivedAt) {
      await tx.update(features).set(row).where(eq(features.key, key));
      changes.push({ kind: "feature", key, change: "updated" });
    }
  }
  await archiveMissing(tx, "feature", Object.keys(catalog.features), changes, at);

  for (const [key, meter] of Object.entries(catalog.meters)) await applyMeter(tx, key, meter, changes, at);
  await archiveMissing(tx, "meter", Object.keys(catalog.meters), changes, at);

  for (const [key, plan] of Object.entries(catalog.plans))
    await applyPlan(tx, key, plan, catalog.currency, changes, at);
  await archiveMissing(tx, "plan", Object.keys(catalog.plans), changes, at);

  for (const [key, addOn] of Object.entries(catalog.add_ons))
    await applyAddOn(tx, key, addOn, catalog.currency, changes, at);
  await archiveMissing(tx, "add_on", Object.keys(catalog.add_ons), changes, at);

  await tx.insert(catalogVersions).values({ version, hash, document: catalog, appliedAt: at });
  await recordEvent(tx, { type: "catalog.applied", accountId: null, data: { version, changes }, at });
  return { version, changed: true, changes };
}

async function applyMeter(tx: Tx, key: string, meter: MeterDefinition, changes: CatalogChange[], at: Date) {
  const [current] = await tx
    .select()
    .from(meters)
    .where(eq(meters.key, key))
    .orderBy(desc(meters.version))
    .limit(1);
  if (current && hashOf(current.definition) === hashOf(meter)) {
    if (current.archivedAt)
      await tx.update(meters).set({ archivedAt: null }).where(eq(meters.id, current.id));
    return;
  }
  const version = (current?.version ?? 0) + 1;
  if (current) await tx.update(meters).set({ archivedAt: at }).where(eq(meters.key, key));
  await tx.insert(meters).values({ id: newId("meter", at), key, version, definition: meter, createdAt: at });
  changes.push({ kind: "meter", key, change: current ? "new_version" : "created", version });
}

async function applyPlan(
  tx: Tx,
  key: string,
  plan: ResolvedPlan,
  currency: string,
  changes: CatalogChange[],
  at: Date,
) {
  const [current] = await tx
    .select({ row: plans, definition: planVersions.definition, version: planVersions.version })
    .from(plans)
    .innerJoin(planVersions, eq(planVersions.id, plans.currentVersionId))
    .where(eq(plans.key, key));
  if (current && hashOf(current.definition) === hashOf(plan)) {
    if (current.row.archivedAt) await tx.update(plans).set({ archivedAt: null }).where(eq(plans.key, key));
    return;
  }
  const [{ latest } = { latest: 0 }] = await tx
    .select({ latest: max(planVersions.version) })
    .from(planVersions)
    .where(eq(planVersions.planKey, key));
  const version = (latest ?? 0) + 1;
  const id = newId("planVersion", at);
  await tx
    .insert(planVersions)
    .values({ id, planKey: key, version, currency, definition: plan, createdAt: at });
  const row = { name: plan.name, tier: plan.tier, currentVersionId: id, archivedAt: null };
  if (current) await tx.update(plans).set(row).where(eq(plans.key, key));
  else await tx.insert(plans).values({ key, ...row });
  changes.push({ kind: "plan", key, change: current ? "new_version" : "created", version });
}

async function applyAddOn(
  tx: Tx,
  key: string,
  addOn: AddOnDefinition,
  currency: string,
  changes: CatalogChange[],
  at: Date,
) {
  const [current] = await tx
    .select({ row: addOns, definition: addOnVersions.definition })
    .from(addOns)
    .innerJoin(addOnVersions, eq(addOnVersions.id, addOns.currentVersionId))
    .where(eq(addOns.key, key));
  if (current && hashOf(current.definition) === hashOf(addOn)) {
    if (current.row.archivedAt) await tx.update(addOns).set({ archivedAt: null }).where(eq(addOns.key, key));
    return;
  }
  const [{ latest } = { latest: 0 }] = await tx
    .select({ latest: max(addOnVersions.version) })
    .from(addOnVersions)
    .where(eq(addOnVersions.addOnKey, key));
  const version = (latest ?? 0) + 1;
  const id = newId("addOnVersion", at);
  await tx
    .insert(addOnVersions)
    .values({ id, addOnKey: key, version, currency, definition: addOn, createdAt: at });
  const row = { name: addOn.name, currentVersionId: id, archivedAt: null };
  if (current) await tx.update(addOns).set(row).where(eq(addOns.key, key));
  else await tx.insert(addOns).values({ key, ...row });
  changes.push({ kind: "add_on", key, change: current ? "new_version" : "created", version });
}

const ARCHIVABLE = {
  feature: { table: features, key: features.key, archivedAt: features.archivedAt },
  meter: { table: meters, key: meters.key, archivedAt: meters.archivedAt },
  plan: { table: plans, key: plans.key, archivedAt: plans.archivedAt },
  add_on: { table: addOns, key: addOns.key, archivedAt: addOns.archivedAt },
} as const;

async function archiveMissing(
  tx: Tx,
  kind: keyof typeof ARCHIVABLE,
  keep: readonly string[],
  changes: CatalogChange[],
  at: Date,
) {
  const { table, key, archivedAt } = ARCHIVABLE[kind];
  const condition = keep.length > 0 ? notInArray(key, [...keep]) : undefined;
  const archived = await tx
    .update(table)
    .set({ archivedAt: at })
    .where(condition ? and(condition, isNull(archivedAt)) : isNull(archivedAt))
    .returning({ key });
  for (const row of new Set(archived.map((r) => r.key))) changes.push({ kind, key: row, change: "archived" });
}

/** The catalog in force: the last applied document, or null before the first apply. */
export async function currentCatalog(
  db: Executor,
): Promise<{ version: number; catalog: ResolvedCatalog } | null> {
  const [latest] = await db.select().from(catalogVersions).orderBy(desc(catalogVersions.version)).limit(1);
  return latest ? { version: latest.version, catalog: latest.document as ResolvedCatalog } : null;
}
