import { compareRational, type Rational, rational } from "../pricing/rational.ts";

/** The seed's NRR bands (seed 001): below 90%, 90–100, 100–110, 110–130, 130% and above. */
export const NRR_BANDS = [
  { band: "leaky_bucket", from: null, meaning: "Leaky bucket: growth needs new customers to offset losses" },
  {
    band: "stable_flat",
    from: rational(90, 100),
    meaning: "Stable but flat: expansion barely offsets churn",
  },
  {
    band: "healthy",
    from: rational(1),
    meaning: "Healthy: growing from the existing base without new customers",
  },
  { band: "excellent", from: rational(110, 100), meaning: "Excellent: strong expansion motions" },
  { band: "elite", from: rational(130, 100), meaning: "Elite: rare outside usage-based pricing" },
] as const;

export type NrrBand = (typeof NRR_BANDS)[number]["band"];

/** The band an NRR falls in; each band includes its lower bound (exactly 100% is healthy). */
export function nrrBand(nrr: Rational): NrrBand {
  let band: NrrBand = "leaky_bucket";
  for (const candidate of NRR_BANDS)
    if (candidate.from && compareRational(nrr, candidate.from) >= 0) band = candidate.band;
  return band;
}
