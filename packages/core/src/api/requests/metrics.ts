import { z } from "zod";
import { IsoInstant } from "../../periods/instant.ts";
import { CatalogKey } from "./common.ts";

/** The revenue metrics' queries (docs/metrics.md, "API"). */

export const METRICS_BUCKET_SIZES = ["day", "week", "month"] as const;
export const METRICS_SEGMENTS = ["smb", "mid_market", "enterprise"] as const;
export const RETENTION_GROUPS = ["segment", "plan", "cohort"] as const;
/** The most buckets one request may ask for (a day bucket over 2¾ years). */
export const MAX_METRICS_BUCKETS = 1000;

const Filters = {
  segment: z.enum(METRICS_SEGMENTS).optional().describe("Only customers of this segment (by ACV)"),
  plan: CatalogKey.optional().describe("Only customers whose largest subscription is on this plan"),
  currency: z
    .string()
    .regex(/^[a-z]{3}$/, "is not a lowercase ISO 4217 code")
    .optional()
    .describe("Required when subscriptions bill in more than one currency"),
};

export const MetricsSeriesQuery = z
  .object({
    from: IsoInstant.optional().describe(
      "The first bucket is the one containing this instant; default twelve months before `to`",
    ),
    to: IsoInstant.optional().describe("Exclusive; default now"),
    interval: z.enum(METRICS_BUCKET_SIZES).default("month"),
    ...Filters,
  })
  .strict();
export type MetricsSeriesQuery = z.infer<typeof MetricsSeriesQuery>;

export const RetentionQuery = z
  .object({
    from: IsoInstant.optional().describe("The window's start: default twelve months before `to`"),
    to: IsoInstant.optional().describe("The window's end, exclusive; default now"),
    group_by: z.enum(RETENTION_GROUPS).optional(),
    ...Filters,
  })
  .strict();
export type RetentionQuery = z.infer<typeof RetentionQuery>;
