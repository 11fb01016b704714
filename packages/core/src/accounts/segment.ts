import { currencyExponent } from "../money/currency.ts";

export type Segment = "smb" | "mid_market" | "enterprise";

/**
 * Routing tiers by annual contract value (seed 003): SMB below $10k, mid-market $10k–$50k,
 * enterprise above $50k. Bounds are in major units of the account's currency.
 */
export const SEGMENT_BOUNDS = { midMarketFrom: 10_000, enterpriseAbove: 50_000 } as const;

export interface SegmentBounds {
  readonly midMarketFrom: number;
  readonly enterpriseAbove: number;
}

export function segmentForAcv(
  acvMinor: number,
  currency: string,
  bounds: SegmentBounds = SEGMENT_BOUNDS,
): Segment {
  const scale = 10 ** currencyExponent(currency);
  if (acvMinor < bounds.midMarketFrom * scale) return "smb";
  if (acvMinor <= bounds.enterpriseAbove * scale) return "mid_market";
  return "enterprise";
}
