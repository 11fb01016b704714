import type { z } from "zod";
import { mostRecurringAmount } from "../pricing/price-model.ts";
import { formatCount, MAX_BILLED_OVERAGE_FEATURES, MAX_ITEM_AMOUNT, MAX_QUANTITY } from "./bounds.ts";
import {
  type AddOnDefinition,
  CatalogDocument,
  type FeatureDefinition,
  type Grant,
  type PlanDefinition,
} from "./document.ts";
import type { PriceModel } from "./price-model.ts";

/** One problem in a catalog file: where (a dotted path) and why. */
export interface CatalogIssue {
  readonly path: string;
  readonly message: string;
}

/** A plan with its `extends` chain flattened into its own grants. */
export interface ResolvedPlan extends Omit<PlanDefinition, "extends"> {
  readonly key: string;
  readonly grants: Record<string, Grant>;
}

export interface ResolvedCatalog extends Omit<CatalogDocument, "plans"> {
  readonly plans: Record<string, ResolvedPlan>;
}

export type CatalogValidation =
  | { readonly ok: true; readonly catalog: ResolvedCatalog }
  | { readonly ok: false; readonly issues: readonly CatalogIssue[] };

export function formatIssuePath(path: readonly PropertyKey[]): string {
  // "add_ons.x.requires[0]": an index follows its array without a dot, as in the cross-reference issues.
  return (
    path.reduce<string>((at, p) => {
      if (typeof p === "number") return `${at}[${p}]`;
      return at ? `${at}.${String(p)}` : String(p);
    }, "") || "(root)"
  );
}

export function zodIssues(error: z.ZodError): CatalogIssue[] {
  return error.issues.flatMap((issue) =>
    // Unknown fields are named one by one, at their own path, so the file points at the key to remove.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: formatIssuePath([...issue.path, key]), message: "unknown field" }))
      : [{ path: formatIssuePath(issue.path), message: issue.message }],
  );
}

/** Parses and cross-checks a catalog document (the result of reading YAML/JSON). Pure. */
export function validateCatalog(input: unknown): CatalogValidation {
  const parsed = CatalogDocument.safeParse(input);
  if (!parsed.success) return { ok: false, issues: zodIssues(parsed.error) };
  const doc = parsed.data;
  const issues: CatalogIssue[] = [];
  const report = (path: string, message: string) => issues.push({ path, message });

  checkFeatures(doc, report);
  for (const [key, meter] of Object.entries(doc.meters)) {
    if (meter.aggregation !== "count" && !meter.property)
      report(`meters.${key}.property`, `a ${meter.aggregation} meter needs the event property it reads`);
  }

  const tiers = new Map<number, string>();
  for (const [key, plan] of Object.entries(doc.plans)) {
    const at = `plans.${key}`;
    const other = tiers.get(plan.tier);
    if (other)
      report(`${at}.tier`, `tier ${plan.tier} is already used by plan "${other}"; tiers order upgrades`);
    tiers.set(plan.tier, key);
    if (!plan.prices.month && !plan.prices.year)
      report(`${at}.prices`, "a plan needs a month or a year price");
    if (plan.extends && !has(doc.plans, plan.extends))
      report(`${at}.extends`, `unknown plan "${plan.extends}"`);
    if (plan.seats.max !== null && plan.seats.max < plan.seats.included)
      report(`${at}.seats.max`, "cannot be below seats.included");
    for (const interval of ["month", "year"] as const) {
      const price = plan.prices[interval];
      const seatsAt = `${at}.prices.${interval}.seat`;
      if (!price?.seat || !checkPriceModel(price.seat, seatsAt, report, false)) continue;
      // The plan's amount (base and seats) is what percent_of_plan add-ons take a share of.
      const maxSeats = plan.seats.max ?? MAX_QUANTITY;
      const most = BigInt(price.base) + (mostAmount(price.seat, maxSeats - plan.seats.included) ?? 0n);
      if (most > BigInt(MAX_ITEM_AMOUNT))
        report(
          seatsAt,
          `with ${formatCount(maxSeats)} seats the plan costs ${formatCount(most)} minor units per ${interval}; ` +
            `a plan costs at most ${formatCount(MAX_ITEM_AMOUNT)} per period (lower the prices or set seats.max)`,
        );
    }
    checkGrants(doc.features, plan.grants, `${at}.grants`, report);
  }
  const cycle = findCycle(Object.keys(doc.plans), (k) => {
    const parent = doc.plans[k]?.extends;
    return parent ? [parent] : [];
  });
  if (cycle) report(`plans.${cycle[0]}.extends`, `plans extend each other in a cycle: ${cycle.join(" → ")}`);
  else checkChainLengths(doc, report);

  for (const [key, addOn] of Object.entries(doc.add_ons)) checkAddOn(doc, key, addOn, report);
  const requiresCycle = findCycle(Object.keys(doc.add_ons), (k) => doc.add_ons[k]?.requires ?? []);
  if (requiresCycle)
    report(
      `add_ons.${requiresCycle[0]}.requires`,
      `add-ons require each other in a cycle: ${requiresCycle.join(" → ")}`,
    );

  if (issues.length > 0) return { ok: false, issues };
  const plans: Record<string, ResolvedPlan> = {};
  for (const key of Object.keys(doc.plans)) plans[key] = resolvePlan(doc, key);
  return { ok: true, catalog: { ...doc, plans } };
}

type Report = (path: string, message: string) => void;

/** A record's own entry: `has(doc.meters, "constructor")` must not find Object.prototype.constructor. */
function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}

function checkFeatures(doc: CatalogDocument, report: Report): void {
  const seatFeatures = Object.entries(doc.features).filter(([, f]) => f.kind === "seats");
  if (seatFeatures.length > 1)
    report(`features.${seatFeatures[1]?.[0]}`, "only one feature can be of kind seats");
  let billed = 0;
  for (const [key, feature] of Object.entries(doc.features)) {
    const at = `features.${key}`;
    if (feature.kind === "metered") {
      if (!feature.meter) report(`${at}.meter`, "a metered feature needs a meter");
      else if (!has(doc.meters, feature.meter)) report(`${at}.meter`, `unknown meter "${feature.meter}"`);
    } else if (feature.meter) {
      report(`${at}.meter`, `only metered features have a meter (this one is ${feature.kind})`);
    }
    if (feature.overage && feature.kind !== "metered")
      report(`${at}.overage`, "only metered features have an overage policy");
    if (feature.overage?.policy === "billed") {
      billed += 1;
      if (billed === MAX_BILLED_OVERAGE_FEATURES + 1)
        report(
          `${at}.overage.policy`,
          `at most ${MAX_BILLED_OVERAGE_FEATURES} features have billed overage (a renewal bills a line for each)`,
        );
      checkPriceModel(feature.overage.price, `${at}.overage.price`, report, false);
      // Billed overage is invoiced in arrears with the renewal of the billing period it was used in;
      // a meter counting per calendar month (or never resetting) has no such period to bill it with.
      const meter = feature.meter && has(doc.meters, feature.meter) ? doc.meters[feature.meter] : undefined;
      if (meter && meter.reset !== "billing_period") {
        const how = meter.reset === "never" ? "never resets" : "resets per calendar month";
        report(
          `${at}.overage.policy`,
          `billed overage needs a meter that resets per billing period ("${feature.meter}" ${how})`,
        );
      }
    }
  }
}

function checkGrants(
  features: Record<string, FeatureDefinition>,
  grants: Record<string, Grant>,
  at: string,
  report: Report,
): void {
  for (const [featureKey, grant] of Object.entries(grants)) {
    const feature = has(features, featureKey) ? features[featureKey] : undefined;
    const path = `${at}.${featureKey}`;
    if (!feature) report(path, `unknown feature "${featureKey}"`);
    else if (feature.kind === "seats")
      report(path, "seats are granted by the plan's seats section, not by a grant");
    else if (feature.kind === "boolean" && typeof grant !== "boolean")
      report(path, `"${featureKey}" is a boolean feature: grant true or false`);
    else if (feature.kind !== "boolean" && grant === true)
      report(path, `"${featureKey}" is a ${feature.kind} feature: grant a number, "unlimited" or false`);
  }
}

function checkAddOn(doc: CatalogDocument, key: string, addOn: AddOnDefinition, report: Report): void {
  const at = `add_ons.${key}`;
  if (!addOn.prices.month && !addOn.prices.year)
    report(`${at}.prices`, "an add-on needs a month or a year price");
  const largest = addOn.quantity === "single" ? 1 : MAX_QUANTITY;
  for (const interval of ["month", "year"] as const) {
    const price = addOn.prices[interval];
    const priceAt = `${at}.prices.${interval}`;
    if (!price || !checkPriceModel(price, priceAt, report, true)) continue;
    const most = mostAmount(price, largest);
    if (most !== null && most > BigInt(MAX_ITEM_AMOUNT))
      report(
        priceAt,
        `at ${formatCount(largest)} ${largest === 1 ? "unit" : "units"} the add-on costs ${formatCount(most)} minor units per ${interval}; ` +
          `an add-on costs at most ${formatCount(MAX_ITEM_AMOUNT)} per period at its largest quantity`,
      );
  }
  checkGrants(doc.features, addOn.grants, `${at}.grants`, report);
  addOn.plans?.forEach((plan, i) => {
    if (!has(doc.plans, plan)) report(`${at}.plans[${i}]`, `unknown plan "${plan}"`);
  });
  addOn.requires.forEach((required, i) => {
    if (!has(doc.add_ons, required)) report(`${at}.requires[${i}]`, `unknown add-on "${required}"`);
  });
}

/** Reports what is wrong with a price; true when it is sound enough to be priced. */
function checkPriceModel(price: PriceModel, at: string, report: Report, allowPercent: boolean): boolean {
  let sound = true;
  const fail = (path: string, message: string) => {
    report(path, message);
    sound = false;
  };
  if (price.model === "percent_of_plan" && !allowPercent)
    fail(`${at}.model`, "percent_of_plan prices only add-ons");
  if (price.model !== "tiered" && price.model !== "volume") return sound;
  price.tiers.forEach((tier, i) => {
    const last = i === price.tiers.length - 1;
    if (last && tier.up_to !== null)
      fail(`${at}.tiers[${i}].up_to`, "the last tier must be unbounded (null)");
    if (!last && tier.up_to === null) fail(`${at}.tiers[${i}].up_to`, "only the last tier can be unbounded");
    const previous = i > 0 ? price.tiers[i - 1]?.up_to : 0;
    if (tier.up_to !== null && typeof previous === "number" && tier.up_to <= previous)
      fail(`${at}.tiers[${i}].up_to`, "tiers must be in ascending order of up_to");
  });
  return sound;
}

/** The most a sound price costs for one period at up to `maxQuantity` units (null for percent_of_plan). */
const mostAmount = (price: PriceModel, maxQuantity: number) =>
  mostRecurringAmount(price, Math.max(0, maxQuantity));

/**
 * Returns the first cycle found in a directed graph, as the path of its nodes, or null. Iterative
 * and linear in nodes + edges: a catalog may chain thousands of plans, deeper than the call stack.
 */
function findCycle(nodes: readonly string[], next: (node: string) => readonly string[]): string[] | null {
  const known = new Set(nodes);
  const state = new Map<string, "visiting" | "done">();
  for (const root of nodes) {
    if (state.has(root)) continue;
    // The path from the root, each node with the edges it has left to follow.
    const path: { node: string; edges: readonly string[]; at: number }[] = [];
    const enter = (node: string) => {
      state.set(node, "visiting");
      path.push({ node, edges: next(node), at: 0 });
    };
    enter(root);
    while (path.length > 0) {
      const top = path[path.length - 1] as (typeof path)[number];
      const n = top.edges[top.at++];
      if (n === undefined) {
        state.set(top.node, "done");
        path.pop();
      } else if (known.has(n)) {
        if (state.get(n) === "visiting") {
          const from = path.findIndex((p) => p.node === n);
          return [...path.slice(from).map((p) => p.node), n];
        }
        if (!state.has(n)) enter(n);
      }
    }
  }
  return null;
}

/**
 * The most plans in one extends chain. A resolved plan carries the grants of its whole chain, so
 * this keeps the resolved catalog (and the work of resolving it) within a constant times the file.
 */
export const MAX_PLAN_CHAIN = 20;

/** Reports the plan that makes an extends chain longer than MAX_PLAN_CHAIN (once per chain). */
function checkChainLengths(doc: CatalogDocument, report: Report): void {
  const lengths = new Map<string, number>();
  for (const key of Object.keys(doc.plans)) {
    const chain: string[] = [];
    let k: string | undefined = key;
    for (; k && has(doc.plans, k) && !lengths.has(k); k = doc.plans[k]?.extends) chain.push(k);
    let length = (k && lengths.get(k)) || 0;
    for (const plan of chain.reverse()) {
      length += 1;
      lengths.set(plan, length);
      if (length === MAX_PLAN_CHAIN + 1)
        report(
          `plans.${plan}.extends`,
          `an extends chain has at most ${MAX_PLAN_CHAIN} plans ("${plan}" is plan ${length} of its chain)`,
        );
    }
  }
}

function resolvePlan(doc: CatalogDocument, key: string): ResolvedPlan {
  const chain: PlanDefinition[] = [];
  for (let k: string | undefined = key; k; k = doc.plans[k]?.extends) {
    const plan = doc.plans[k];
    if (plan) chain.unshift(plan);
  }
  const grants = Object.assign({}, ...chain.map((p) => p.grants)) as Record<string, Grant>;
  const { extends: _parent, ...own } = doc.plans[key] as PlanDefinition;
  return { ...own, key, grants };
}
