import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addRational,
  compareRational,
  divideRational,
  equalsRational,
  formatRational,
  multiplyRational,
  negateRational,
  type Rational,
  rational,
  roundHalfAwayFromZero,
  roundToSafeInteger,
  signRational,
  subtractRational,
} from "./rational.ts";

const bigints = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n });
const nonZero = bigints.filter((d) => d !== 0n);
const rationals = fc.tuple(bigints, nonZero).map(([n, d]) => rational(n, d));

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? (a < 0n ? -a : a) : gcd(b, a % b));

describe("rational", () => {
  it("normalises: positive denominator, lowest terms, zero is 0/1", () => {
    expect(rational(6, -4)).toEqual({ numerator: -3n, denominator: 2n });
    expect(rational(0, -7)).toEqual({ numerator: 0n, denominator: 1n });
    expect(rational(1_339_200, 2_678_400)).toEqual({ numerator: 1n, denominator: 2n });
    expect(formatRational(rational(-10, 4))).toBe("-5/2");
    expect(formatRational(rational(12, 4))).toBe("3");
  });

  it("rejects a zero denominator, a non-integer and division by zero", () => {
    expect(() => rational(1, 0)).toThrow(RangeError);
    expect(() => rational(1.5)).toThrow(RangeError);
    expect(() => rational(Number.MAX_SAFE_INTEGER + 1)).toThrow(RangeError);
    expect(() => divideRational(1, 0)).toThrow(RangeError);
  });

  it("does exact arithmetic", () => {
    expect(addRational(rational(1, 3), rational(1, 6))).toEqual(rational(1, 2));
    expect(subtractRational(1, rational(1, 3))).toEqual(rational(2, 3));
    expect(multiplyRational(1500, rational(15, 31))).toEqual(rational(22_500, 31));
    expect(divideRational(rational(3, 4), rational(3, 8))).toEqual(rational(2));
    expect(compareRational(rational(1, 3), rational(333, 1000))).toBe(1);
    expect(signRational(rational(-1, 9))).toBe(-1);
  });

  it("rounds half away from zero, symmetric around zero", () => {
    const cases: [Rational, bigint][] = [
      [rational(5, 2), 3n],
      [rational(-5, 2), -3n],
      [rational(3, 2), 2n],
      [rational(-3, 2), -2n],
      [rational(24_999, 10_000), 2n],
      [rational(-24_999, 10_000), -2n],
      [rational(1, 2), 1n],
      [rational(-1, 2), -1n],
      [rational(1, 3), 0n],
      [rational(22_500, 31), 726n], // $15 × 15/31 = 725.806… → $7.26
      [rational(7), 7n],
    ];
    for (const [r, expected] of cases) expect(roundHalfAwayFromZero(r)).toBe(expected);
  });

  it("roundToSafeInteger never returns -0 and refuses unsafe results", () => {
    expect(Object.is(roundToSafeInteger(rational(-1, 3)), 0)).toBe(true);
    expect(roundToSafeInteger(rational(-7, 2))).toBe(-4);
    expect(() => roundToSafeInteger(rational(2n ** 60n))).toThrow(RangeError);
  });

  it("property: results are always in lowest terms with a positive denominator", () => {
    fc.assert(
      fc.property(rationals, rationals, (a, b) => {
        for (const r of [addRational(a, b), subtractRational(a, b), multiplyRational(a, b)]) {
          expect(r.denominator > 0n).toBe(true);
          expect(gcd(r.numerator, r.denominator)).toBe(1n);
        }
      }),
    );
  });

  it("property: normalising is exact on both sides of 2^53 (where gcd switches to doubles)", () => {
    const around = fc.oneof(
      fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
      fc.bigInt({ min: 2n ** 53n - 1000n, max: 2n ** 53n + 1000n }),
      fc.bigInt({ min: -1_000_000n, max: 1_000_000n }),
    );
    fc.assert(
      fc.property(
        around,
        around.filter((d) => d !== 0n),
        fc.bigInt({ min: 1n, max: 10n ** 6n }),
        (n, d, k) => {
          for (const [p, q] of [
            [n, d],
            [n * k, d * k],
          ] as const) {
            const r = rational(p, q);
            expect(r.denominator > 0n).toBe(true);
            expect(gcd(r.numerator, r.denominator)).toBe(1n);
            expect(r.numerator * q).toBe(p * r.denominator);
          }
        },
      ),
    );
  });

  it("property: field laws (a + b − b = a, a × b ÷ b = a, a − a = 0)", () => {
    fc.assert(
      fc.property(rationals, rationals, (a, b) => {
        expect(subtractRational(addRational(a, b), b)).toEqual(a);
        if (b.numerator !== 0n) expect(divideRational(multiplyRational(a, b), b)).toEqual(a);
        expect(subtractRational(a, a)).toEqual(rational(0));
        expect(equalsRational(addRational(a, b), addRational(b, a))).toBe(true);
      }),
    );
  });

  it("property: the rounded value is within 1/2 of the exact value, ties going away from zero", () => {
    fc.assert(
      fc.property(rationals, (r) => {
        const rounded = roundHalfAwayFromZero(r);
        const error = subtractRational(rounded, r);
        const magnitude = signRational(error) < 0 ? negateRational(error) : error;
        expect(compareRational(magnitude, rational(1, 2))).toBeLessThanOrEqual(0);
        if (equalsRational(magnitude, rational(1, 2))) {
          // a tie went away from zero: |rounded| > |r|
          expect(signRational(rounded) * signRational(error)).toBe(1);
        }
        expect(roundHalfAwayFromZero(negateRational(r))).toBe(-rounded);
      }),
    );
  });
});
