import { currencyExponent } from "../money/currency.ts";
import type { Money } from "../money/money.ts";

export const SEGMENTS = ["smb", "mid_market", "enterprise"] as const;
export type Segment = (typeof SEGMENTS)[number];

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

/** The account property through which the vendor names an account's segment itself. */
export const SEGMENT_PROPERTY = "segment";

export function isSegment(value: unknown): value is Segment {
  return typeof value === "string" && (SEGMENTS as readonly string[]).includes(value);
}

/**
 * An account's segment, one rule for the API and the plays' audiences: the vendor's own word when
 * the account's `segment` property names a segment (a deal sized by its contract, not its plan, or
 * a tier the vendor routes by hand), otherwise its annual contract value by seed 003's bounds. An
 * account with no live subscription has no contract value, so it is SMB.
 */
export function accountSegment(
  properties: Readonly<Record<string, unknown>>,
  acv: Money | null,
  bounds: SegmentBounds = SEGMENT_BOUNDS,
): Segment {
  const own = Object.hasOwn(properties, SEGMENT_PROPERTY) ? properties[SEGMENT_PROPERTY] : undefined;
  if (isSegment(own)) return own;
  return acv ? segmentForAcv(acv.amount, acv.currency, bounds) : "smb";
}
