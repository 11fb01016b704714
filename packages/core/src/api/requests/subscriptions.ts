import { z } from "zod";
import { MAX_ADD_ONS, MAX_QUANTITY } from "../../catalog/bounds.ts";
import { Interval } from "../../catalog/document.ts";
import { IsoInstant } from "../../periods/instant.ts";
import { SUBSCRIPTION_STATUSES } from "../fields.ts";
import { AccountId, CatalogKey, ListQuery } from "./common.ts";

/** Total seats, within the bound that keeps every amount exact (catalog/bounds.ts). */
export const SeatCount = z.number().int().min(1).max(MAX_QUANTITY);

export const AddOnSelection = z
  .object({ key: CatalogKey, quantity: z.number().int().min(1).max(MAX_QUANTITY).default(1) })
  .strict();
export const AddOnSelections = z.array(AddOnSelection).max(MAX_ADD_ONS);

export const CreateSubscriptionInput = z
  .object({
    account: AccountId,
    plan: CatalogKey,
    interval: Interval.default("month"),
    seats: SeatCount.optional().describe("Total seats; defaults to the plan's included seats"),
    add_ons: AddOnSelections.default([]),
    trial_days: z.number().int().min(0).max(365).optional().describe("Defaults to the plan's trial_days"),
    billing_cycle_anchor: IsoInstant.optional().describe(
      "Backdate the anchor when importing an existing customer; never in the future",
    ),
  })
  .strict();

export const UpdateSubscriptionInput = z
  .object({
    plan: CatalogKey.optional(),
    seats: SeatCount.optional(),
    add_ons: AddOnSelections.optional().describe("The full list of add-ons after the change"),
    cancel_at_period_end: z.boolean().optional(),
    move_to_latest_version: z
      .literal(true)
      .optional()
      .describe("Move off a grandfathered plan version onto the plan's current one"),
  })
  .strict();

export const CancelSubscriptionInput = z.object({ at_period_end: z.boolean().default(true) }).strict();

export const ListSubscriptionsQuery = ListQuery.extend({
  account: z.string().max(64).optional(),
  status: z.enum(SUBSCRIPTION_STATUSES).optional(),
}).strict();
