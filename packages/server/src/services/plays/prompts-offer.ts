import { nextPlanUp, type OfferChange, type Play, type ResolvedCatalog } from "@uptier/core";
import type { OfferedChange } from "../../db/schema/index.ts";
import type { SubscriptionRecord } from "../subscriptions/records.ts";

/** The offer of a play, or of its variant when the variant names one. */
export function offerOf(play: Play, variant: string | null) {
  const own = play.experiment?.variants.find((v) => v.id === variant);
  return own?.offer ?? play.offer;
}

/**
 * What a play's offer changes on this subscription, as a quote's fields (the full state after the
 * change); null for an offer of nothing, or one this subscription cannot take (no next plan up).
 */
export function offeredChange(
  change: OfferChange,
  record: SubscriptionRecord | null,
  catalog: ResolvedCatalog | null,
): OfferedChange | null {
  if (!record || !catalog || change.kind === "none") return null;
  const { shape } = record;
  switch (change.kind) {
    case "next_plan": {
      const next = nextPlanUp(catalog.plans, shape.plan, shape.interval);
      return next ? { plan: next.key } : null;
    }
    case "plan":
      return change.interval ? { plan: change.plan, interval: change.interval } : { plan: change.plan };
    case "interval":
      return change.interval === shape.interval ? null : { interval: change.interval };
    case "seats":
      return { seats: shape.seats + change.add };
    case "add_on": {
      const addOns = shape.addOns.map((a) => ({ key: a.key, quantity: a.quantity }));
      const held = addOns.find((a) => a.key === change.add_on);
      if (held) held.quantity += change.quantity;
      else addOns.push({ key: change.add_on, quantity: change.quantity });
      return { add_ons: addOns };
    }
  }
}
