import type { ResolvedCatalog } from "../catalog/validate.ts";
import { durationSeconds, type Message, type Offer, type Play, type Trigger } from "./document.ts";
import { templateVariables } from "./templates.ts";
import {
  FEATURE_VARIABLES,
  isTemplateVariable,
  OFFER_VARIABLES,
  type TemplateVariable,
  USAGE_VARIABLES,
} from "./variables.ts";

/** What a playbook is checked against: the catalog in force. */
export type PlaybookCatalog = Pick<ResolvedCatalog, "features" | "plans" | "add_ons">;

type Report = (path: string, message: string) => void;
type Interval = "month" | "year";

/** The shortest a billing period of each interval can be, in days (February; a common year). */
const SHORTEST_PERIOD_DAYS: Record<Interval, number> = { month: 28, year: 365 };

const has = (record: object, key: string) => Object.hasOwn(record, key);

/** Every cross-check of a parsed playbook against itself and the catalog, reported with its path. */
export function checkPlaybook(
  plays: readonly (Play | undefined)[],
  ids: readonly (string | undefined)[],
  catalog: PlaybookCatalog,
  report: Report,
): void {
  const firstAt = new Map<string, number>();
  ids.forEach((id, i) => {
    if (id === undefined) return;
    const first = firstAt.get(id);
    if (first !== undefined) report(`plays[${i}].id`, `play id "${id}" is already used by plays[${first}]`);
    else firstAt.set(id, i);
  });
  plays.forEach((play, i) => {
    if (play) checkPlay(play, `plays[${i}]`, catalog, report);
  });
  checkEscalations(plays, firstAt, report);
}

function checkPlay(play: Play, at: string, catalog: PlaybookCatalog, report: Report): void {
  checkTrigger(play, `${at}.trigger`, catalog, report);
  const plans = checkAudience(play, `${at}.audience`, catalog, report);
  checkOffer(play.offer, plans, `${at}.offer`, catalog, report);
  checkMessage(play.message, play.trigger, play.offer, `${at}.message`, report);
  let previous = -1;
  play.follow_ups.forEach((followUp, j) => {
    const fat = `${at}.follow_ups[${j}]`;
    const seconds = durationSeconds(followUp.after);
    if (seconds <= previous) report(`${fat}.after`, "follow-ups must be in increasing order of their delay");
    previous = Math.max(previous, seconds);
    checkMessage(followUp.message, play.trigger, play.offer, `${fat}.message`, report);
  });
  const variants = play.experiment?.variants ?? [];
  const seen = new Set<string>();
  variants.forEach((variant, j) => {
    const vat = `${at}.experiment.variants[${j}]`;
    if (seen.has(variant.id)) report(`${vat}.id`, `variant id "${variant.id}" is already used in this play`);
    seen.add(variant.id);
    if (variant.offer) checkOffer(variant.offer, plans, `${vat}.offer`, catalog, report);
    if (!variant.offer && !variant.message) return;
    // The variant shows the play's copy where it does not override it, with its own offer.
    const offer = variant.offer ?? play.offer;
    const own = variant.message ?? {};
    for (const field of ["title", "body", "cta"] as const) {
      const template = own[field] ?? (variant.offer ? play.message[field] : undefined);
      const path = own[field] ? `${vat}.message.${field}` : `${vat}.offer`;
      if (template !== undefined) checkTemplate(template, play.trigger, offer, path, report);
    }
  });
}

function checkTrigger(play: Play, at: string, catalog: PlaybookCatalog, report: Report): void {
  const trigger = play.trigger;
  switch (trigger.kind) {
    case "usage_ratio":
    case "limit_reached": {
      const feature = has(catalog.features, trigger.feature) ? catalog.features[trigger.feature] : undefined;
      if (!feature) report(`${at}.feature`, `unknown feature "${trigger.feature}"`);
      else if (feature.kind === "boolean")
        report(
          `${at}.feature`,
          `"${trigger.feature}" is a boolean feature: a ${trigger.kind} trigger needs a feature with a limit`,
        );
      return;
    }
    case "feature_locked": {
      if (!has(catalog.features, trigger.feature)) {
        report(`${at}.feature`, `unknown feature "${trigger.feature}"`);
        return;
      }
      const grants = [...Object.values(catalog.plans), ...Object.values(catalog.add_ons)].some(
        (p) => has(p.grants, trigger.feature) && p.grants[trigger.feature] !== false,
      );
      if (!grants)
        report(`${at}.feature`, `no plan or add-on grants "${trigger.feature}": nothing could unlock it`);
      return;
    }
    case "plan_tenure":
      if (trigger.plan !== undefined && !has(catalog.plans, trigger.plan))
        report(`${at}.plan`, `unknown plan "${trigger.plan}"`);
      else if (
        trigger.plan !== undefined &&
        play.audience.plans &&
        !play.audience.plans.includes(trigger.plan)
      )
        report(
          `${at}.plan`,
          `plan "${trigger.plan}" is not in the audience's plans: the play could never fire`,
        );
      return;
    case "subscription_month":
      trigger.months.forEach((month, j) => {
        const before = trigger.months[j - 1];
        if (before !== undefined && month <= before)
          report(`${at}.months[${j}]`, "months must be in increasing order, each once");
      });
      return;
    case "before_renewal":
      for (const interval of play.audience.intervals ?? (["month", "year"] as const)) {
        const shortest = SHORTEST_PERIOD_DAYS[interval];
        if (trigger.days >= shortest)
          report(
            `${at}.days`,
            `a ${interval}ly period can be ${shortest} days long, so ${trigger.days} days before renewal is ` +
              `before the period starts; limit the audience's intervals or name fewer days`,
          );
      }
      return;
    case "account_age":
      if (trigger.to_days !== undefined && trigger.to_days <= trigger.from_days)
        report(
          `${at}.to_days`,
          `the window is empty: to_days must be above from_days (${trigger.from_days})`,
        );
      return;
    case "event_count":
    case "seat_limit_hit":
      return;
  }
}

/** Checks the audience; returns the plans it admits (all the catalog's when it names none). */
function checkAudience(play: Play, at: string, catalog: PlaybookCatalog, report: Report): string[] {
  const named = play.audience.plans;
  named?.forEach((plan, j) => {
    if (!has(catalog.plans, plan)) report(`${at}.plans[${j}]`, `unknown plan "${plan}"`);
  });
  const plans = (named ?? Object.keys(catalog.plans)).filter((p) => has(catalog.plans, p));
  play.audience.intervals?.forEach((interval, j) => {
    if (plans.length > 0 && !plans.some((p) => catalog.plans[p]?.prices[interval]))
      report(`${at}.intervals[${j}]`, `no plan of the audience is sold per ${interval}`);
  });
  return plans;
}

function checkOffer(
  offer: Offer,
  plans: readonly string[],
  at: string,
  catalog: PlaybookCatalog,
  report: Report,
): void {
  const change = offer.change;
  const cat = `${at}.change`;
  // An audience naming only unknown plans is reported there; nothing more to say about its offer.
  if (plans.length === 0 && change.kind !== "plan" && change.kind !== "add_on") return;
  switch (change.kind) {
    case "plan": {
      const plan = has(catalog.plans, change.plan) ? catalog.plans[change.plan] : undefined;
      if (!plan) report(`${cat}.plan`, `unknown plan "${change.plan}"`);
      else if (change.interval && !plan.prices[change.interval])
        report(`${cat}.interval`, `plan "${change.plan}" is not sold per ${change.interval}`);
      return;
    }
    case "interval":
      if (!plans.some((p) => catalog.plans[p]?.prices[change.interval]))
        report(`${cat}.interval`, `no plan of the audience is sold per ${change.interval}`);
      return;
    case "next_plan": {
      const tiers = Object.values(catalog.plans).map((p) => p.tier);
      if (!plans.some((p) => tiers.some((t) => t > (catalog.plans[p]?.tier ?? Number.POSITIVE_INFINITY))))
        report(`${cat}.kind`, "no plan of the audience has a plan above it to offer");
      return;
    }
    case "seats":
      if (
        plans.length > 0 &&
        plans.every((p) => {
          const seats = catalog.plans[p]?.seats;
          return seats && seats.max !== null && seats.max <= seats.included;
        })
      )
        report(
          `${cat}.kind`,
          `no plan of the audience can hold more seats than it includes (${plans.join(", ")})`,
        );
      return;
    case "add_on": {
      const addOn = has(catalog.add_ons, change.add_on) ? catalog.add_ons[change.add_on] : undefined;
      if (!addOn) {
        report(`${cat}.add_on`, `unknown add-on "${change.add_on}"`);
        return;
      }
      if (change.quantity > 1 && addOn.quantity === "single")
        report(`${cat}.quantity`, `add-on "${change.add_on}" is sold one at a time`);
      const soldOn = addOn.plans;
      if (soldOn && plans.length > 0 && !plans.some((p) => soldOn.includes(p)))
        report(`${cat}.add_on`, `add-on "${change.add_on}" is not sold on any plan of the audience`);
      return;
    }
    case "none":
      return;
  }
}

function checkMessage(message: Message, trigger: Trigger, offer: Offer, at: string, report: Report): void {
  for (const field of ["title", "body", "cta"] as const) {
    const template = message[field];
    if (template !== undefined) checkTemplate(template, trigger, offer, `${at}.${field}`, report);
  }
}

function checkTemplate(template: string, trigger: Trigger, offer: Offer, at: string, report: Report): void {
  const parsed = templateVariables(template);
  if (!parsed.ok)
    for (const issue of parsed.issues) report(at, `at character ${issue.offset}: ${issue.message}`);
  for (const name of parsed.variables) {
    if (!isTemplateVariable(name)) report(at, `unknown template variable "${name}"`);
    else {
      const missing = unavailable(name, trigger, offer);
      if (missing) report(at, `template variable "${name}" ${missing}`);
    }
  }
}

/** Why the play's context cannot supply a known variable, or null when it can. */
function unavailable(name: TemplateVariable, trigger: Trigger, offer: Offer): string | null {
  const usage = trigger.kind === "usage_ratio" || trigger.kind === "limit_reached";
  if (USAGE_VARIABLES.has(name) && !usage)
    return `needs a usage_ratio or limit_reached trigger (this one is ${trigger.kind})`;
  if (FEATURE_VARIABLES.has(name) && !usage && trigger.kind !== "feature_locked")
    return `needs a trigger that names a feature (this one is ${trigger.kind})`;
  if (OFFER_VARIABLES.has(name) && offer.change.kind === "none")
    return "needs an offer that changes something";
  if (name === "bonus" && offer.bonus === undefined) return "needs the offer's bonus";
  return null;
}

/** Each play escalates at most one other, so the escalations form chains; a chain may not loop. */
function checkEscalations(
  plays: readonly (Play | undefined)[],
  indexOf: ReadonlyMap<string, number>,
  report: Report,
): void {
  const done = new Set<string>();
  plays.forEach((play, i) => {
    const at = `plays[${i}].escalates`;
    if (play?.escalates === undefined || done.has(play.id)) return;
    if (play.escalates === play.id) report(at, "a play cannot escalate itself");
    else if (!indexOf.has(play.escalates)) report(at, `unknown play "${play.escalates}"`);
    else walkChain(play.id, i);
  });

  function walkChain(from: string, i: number): void {
    const chain: string[] = [];
    for (let id: string | undefined = from; id !== undefined; ) {
      const loopFrom = chain.indexOf(id);
      if (loopFrom >= 0) {
        const loop = [...chain.slice(loopFrom), id];
        const first = indexOf.get(id) ?? i;
        report(`plays[${first}].escalates`, `plays escalate each other in a cycle: ${loop.join(" → ")}`);
        break;
      }
      if (done.has(id)) break;
      chain.push(id);
      const index = indexOf.get(id);
      const next: string | undefined = index === undefined ? undefined : plays[index]?.escalates;
      id = next === id ? undefined : next;
    }
    for (const id of chain) done.add(id);
  }
}
