import { z } from "zod";
import { EXPANSION_SOURCES } from "../metrics/expansion-sources.ts";
import { MOVEMENT_KINDS } from "../metrics/movements.ts";
import { NRR_BANDS } from "../metrics/nrr-bands.ts";
import { Instant } from "./fields.ts";
import { METRICS_BUCKET_SIZES, METRICS_SEGMENTS } from "./requests/metrics.ts";

/**
 * The revenue metrics' answers. Amounts are minor units, each rounded once (half away from zero)
 * from its exact value; ratios are percentages rounded to 2 decimals; null where a ratio has no
 * denominator (docs/metrics.md).
 */
const Amount = z.number().int();
const Percent = z.number().nullable();

const BySource = z.object(
  Object.fromEntries(EXPANSION_SOURCES.map((source) => [source, Amount])) as Record<
    (typeof EXPANSION_SOURCES)[number],
    typeof Amount
  >,
);
const ByKind = z.object(
  Object.fromEntries(MOVEMENT_KINDS.map((kind) => [kind, z.number().int()])) as Record<
    (typeof MOVEMENT_KINDS)[number],
    z.ZodNumber
  >,
);

const SeriesFields = {
  currency: z.string().nullable(),
  interval: z.enum(METRICS_BUCKET_SIZES),
  from: Instant,
  to: Instant,
  segment: z.enum(METRICS_SEGMENTS).nullable(),
  plan: z.string().nullable(),
};

export const MrrPointResponse = z.object({
  start: Instant,
  end: Instant,
  mrr: Amount.describe("At the bucket's close: committed + usage"),
  committed_mrr: Amount,
  usage_mrr: Amount,
  customers: z.number().int().describe("Customers with MRR above zero"),
  arpa: Amount.nullable(),
  annual_mrr_share: Percent,
});

export const MrrSeriesResponse = z
  .object({ object: z.literal("mrr_series"), ...SeriesFields, data: z.array(MrrPointResponse) })
  .meta({ id: "MrrSeries" });

export const MovementBucketResponse = z.object({
  start: Instant,
  end: Instant,
  opening_mrr: Amount,
  closing_mrr: Amount,
  new: Amount,
  expansion: Amount,
  contraction: Amount,
  churn: Amount,
  reactivation: Amount,
  customers: ByKind.describe("Customers of each movement"),
  expansion_by_source: BySource,
  contraction_by_source: BySource,
  quick_ratio: z.number().nullable(),
  logo_churn_rate: Percent,
  revenue_churn_rate: Percent,
  net_mrr_churn_rate: Percent,
  net_negative_churn: z.boolean(),
  expansion_share_of_new_mrr: Percent,
  average_expansion: Amount.nullable(),
});

export const MovementsResponse = z
  .object({
    object: z.literal("mrr_movements"),
    ...SeriesFields,
    data: z.array(MovementBucketResponse),
    total: MovementBucketResponse.describe("The whole range as one bucket: each customer netted once"),
  })
  .meta({ id: "MrrMovements" });

const RetentionFields = {
  customers: z.number().int().describe("The start cohort: customers with MRR at the window's start"),
  retained_customers: z.number().int(),
  start_mrr: Amount,
  expansion: Amount,
  contraction: Amount,
  churn: Amount,
  end_mrr: Amount,
  nrr: Percent,
  grr: Percent,
  nrr_band: z.enum(NRR_BANDS.map((b) => b.band) as [string, ...string[]]).nullable(),
};

export const RetentionResponse = z
  .object({
    object: z.literal("retention"),
    currency: z.string().nullable(),
    from: Instant,
    to: Instant,
    segment: z.enum(METRICS_SEGMENTS).nullable(),
    plan: z.string().nullable(),
    ...RetentionFields,
    groups: z.array(z.object({ group: z.string(), ...RetentionFields })).nullable(),
  })
  .meta({ id: "Retention" });

export type MrrSeriesView = z.infer<typeof MrrSeriesResponse>;
export type MovementsView = z.infer<typeof MovementsResponse>;
export type MovementBucketView = z.infer<typeof MovementBucketResponse>;
export type RetentionView = z.infer<typeof RetentionResponse>;
