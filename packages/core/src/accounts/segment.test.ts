import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountSegment, SEGMENT_BOUNDS, SEGMENTS, type Segment, segmentForAcv } from "./segment.ts";

const ORDER: Record<Segment, number> = { smb: 0, mid_market: 1, enterprise: 2 };

describe("segmentForAcv", () => {
  it("routes by ACV in dollars: SMB below $10k, mid-market $10k–$50k, enterprise above $50k", () => {
    expect(segmentForAcv(0, "usd")).toBe("smb");
    expect(segmentForAcv(154_800, "usd")).toBe("smb"); // Starter, 7 seats, monthly: $1,548
    expect(segmentForAcv(999_999, "usd")).toBe("smb"); // $9,999.99
    expect(segmentForAcv(1_000_000, "usd")).toBe("mid_market"); // exactly $10,000
    expect(segmentForAcv(2_500_000, "usd")).toBe("mid_market");
    expect(segmentForAcv(5_000_000, "usd")).toBe("mid_market"); // exactly $50,000
    expect(segmentForAcv(5_000_001, "usd")).toBe("enterprise"); // $50,000.01
    expect(segmentForAcv(100_000_000, "usd")).toBe("enterprise");
  });

  it("scales the bounds by the currency's exponent (JPY has no minor unit)", () => {
    expect(segmentForAcv(9_999, "jpy")).toBe("smb");
    expect(segmentForAcv(10_000, "jpy")).toBe("mid_market");
    expect(segmentForAcv(50_000, "jpy")).toBe("mid_market");
    expect(segmentForAcv(50_001, "jpy")).toBe("enterprise");
    // 3-decimal currencies: 10,000.000 KWD is 10,000,000 fils.
    expect(segmentForAcv(9_999_999, "kwd")).toBe("smb");
    expect(segmentForAcv(10_000_000, "kwd")).toBe("mid_market");
    expect(segmentForAcv(50_000_001, "kwd")).toBe("enterprise");
  });

  it("takes other bounds", () => {
    const bounds = { midMarketFrom: 5000, enterpriseAbove: 20_000 };
    expect(segmentForAcv(499_999, "usd", bounds)).toBe("smb");
    expect(segmentForAcv(500_000, "usd", bounds)).toBe("mid_market");
    expect(segmentForAcv(2_000_001, "usd", bounds)).toBe("enterprise");
    expect(SEGMENT_BOUNDS).toEqual({ midMarketFrom: 10_000, enterpriseAbove: 50_000 });
  });

  it("rejects an unknown currency", () => {
    expect(() => segmentForAcv(1_000_000, "xyz")).toThrow(RangeError);
    expect(() => segmentForAcv(1_000_000, "USD")).toThrow(/unknown currency/);
  });

  it("never moves an account down a segment when its ACV grows", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("usd", "eur", "jpy", "kwd"),
        fc.nat(100_000_000_000),
        fc.nat(100_000_000_000),
        (currency, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(ORDER[segmentForAcv(low, currency)]).toBeLessThanOrEqual(
            ORDER[segmentForAcv(high, currency)],
          );
        },
      ),
    );
  });

  it("gives the same segment to the same major-unit amount in any currency", () => {
    fc.assert(
      fc.property(fc.nat(1_000_000_000), (major) => {
        const segment = segmentForAcv(major, "jpy");
        expect(segmentForAcv(major * 100, "usd")).toBe(segment);
        expect(segmentForAcv(major * 1000, "kwd")).toBe(segment);
      }),
    );
  });
});

describe("accountSegment", () => {
  const usd = (amount: number) => ({ amount, currency: "usd" });

  it("is the vendor's `segment` property when it names a segment, else the ACV's", () => {
    expect(accountSegment({}, usd(2_158_800))).toBe("mid_market"); // Business, 125 seats: $21,588
    expect(accountSegment({ segment: "enterprise" }, usd(2_158_800))).toBe("enterprise");
    expect(accountSegment({ segment: "smb" }, usd(100_000_000))).toBe("smb");
    // a value that names no segment (the API refuses it; older rows may hold one) is not the vendor's word
    expect(accountSegment({ segment: "Enterprise" }, usd(2_158_800))).toBe("mid_market");
    expect(accountSegment({ segment: 2 }, usd(0))).toBe("smb");
  });

  it("is SMB for an account with no contract (no live subscription), unless the vendor says otherwise", () => {
    expect(accountSegment({}, null)).toBe("smb");
    expect(accountSegment({ segment: "mid_market" }, null)).toBe("mid_market");
  });

  it("takes other bounds for the ACV", () => {
    const bounds = { midMarketFrom: 5000, enterpriseAbove: 20_000 };
    expect(accountSegment({}, usd(500_000), bounds)).toBe("mid_market");
    expect(accountSegment({}, usd(2_000_001), bounds)).toBe("enterprise");
  });

  it("never reads an inherited property as the segment", () => {
    const properties = Object.create({ segment: "enterprise" }) as Record<string, unknown>;
    expect(accountSegment(properties, usd(0))).toBe("smb");
  });

  it("is the property whenever it names a segment, and otherwise exactly segmentForAcv", () => {
    const value = fc.oneof(fc.constantFrom(...SEGMENTS), fc.string(), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(
        fc.option(value, { nil: undefined }),
        fc.option(fc.nat(100_000_000_000), { nil: null }),
        fc.constantFrom("usd", "eur", "jpy", "kwd"),
        (own, amount, currency) => {
          const properties = own === undefined ? {} : { segment: own, other: "x" };
          const acv = amount === null ? null : { amount, currency };
          const expected: Segment = (SEGMENTS as readonly unknown[]).includes(own)
            ? (own as Segment)
            : acv
              ? segmentForAcv(acv.amount, acv.currency)
              : "smb";
          expect(accountSegment(properties, acv)).toBe(expected);
        },
      ),
    );
  });

  it("never moves an account down a segment when its ACV grows, whatever else it holds", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1 }).filter((k) => k !== "segment"),
          fc.oneof(fc.string(), fc.integer()),
        ),
        fc.nat(100_000_000_000),
        fc.nat(100_000_000_000),
        (properties, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(ORDER[accountSegment(properties, usd(low))]).toBeLessThanOrEqual(
            ORDER[accountSegment(properties, usd(high))],
          );
        },
      ),
    );
  });
});
