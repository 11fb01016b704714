/**
 * Exact rational arithmetic on bigint. Proration is computed with these and rounded exactly once per
 * invoice line (see `roundHalfAwayFromZero`), so no float and no intermediate rounding ever touches
 * an amount.
 *
 * A `Rational` is always normalised: the denominator is positive and shares no factor with the
 * numerator, and zero is 0/1. Two equal values therefore have equal fields.
 */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

function toBigInt(value: bigint | number, what: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be a safe integer, got ${value}`);
  return BigInt(value);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  // Prices, quantities and seconds keep most values within 2^53, where Euclid on doubles is exact
  // and many times faster than on bigint.
  if (x <= MAX_SAFE && y <= MAX_SAFE) {
    let p = Number(x);
    let q = Number(y);
    while (q !== 0) {
      const t = p % q;
      p = q;
      q = t;
    }
    return BigInt(p);
  }
  while (y !== 0n) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

/** numerator ÷ denominator, normalised. Numbers must be safe integers; the denominator non-zero. */
export function rational(numerator: bigint | number, denominator: bigint | number = 1n): Rational {
  let n = toBigInt(numerator, "numerator");
  let d = toBigInt(denominator, "denominator");
  if (d === 0n) throw new RangeError("denominator must not be zero");
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  return g > 1n ? { numerator: n / g, denominator: d / g } : { numerator: n, denominator: d };
}

export const RATIONAL_ZERO: Rational = rational(0n);
export const RATIONAL_ONE: Rational = rational(1n);

/** Accepts an integer (number or bigint) or a Rational. */
export type RationalLike = Rational | bigint | number;

export function toRational(value: RationalLike): Rational {
  return typeof value === "object" ? value : rational(value);
}

export function addRational(a: RationalLike, b: RationalLike): Rational {
  const x = toRational(a);
  const y = toRational(b);
  return rational(x.numerator * y.denominator + y.numerator * x.denominator, x.denominator * y.denominator);
}

export function subtractRational(a: RationalLike, b: RationalLike): Rational {
  return addRational(a, negateRational(b));
}

export function multiplyRational(a: RationalLike, b: RationalLike): Rational {
  const x = toRational(a);
  const y = toRational(b);
  return rational(x.numerator * y.numerator, x.denominator * y.denominator);
}

export function divideRational(a: RationalLike, b: RationalLike): Rational {
  const x = toRational(a);
  const y = toRational(b);
  if (y.numerator === 0n) throw new RangeError("division by zero");
  return rational(x.numerator * y.denominator, x.denominator * y.numerator);
}

export function negateRational(a: RationalLike): Rational {
  const x = toRational(a);
  return rational(-x.numerator, x.denominator);
}

/** -1, 0 or 1. */
export function compareRational(a: RationalLike, b: RationalLike): -1 | 0 | 1 {
  const x = toRational(a);
  const y = toRational(b);
  const left = x.numerator * y.denominator;
  const right = y.numerator * x.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

export function equalsRational(a: RationalLike, b: RationalLike): boolean {
  return compareRational(a, b) === 0;
}

/** -1, 0 or 1. */
export function signRational(a: RationalLike): -1 | 0 | 1 {
  return compareRational(a, RATIONAL_ZERO);
}

/** "3/7", "-5", for messages and snapshots. */
export function formatRational(a: RationalLike): string {
  const x = toRational(a);
  return x.denominator === 1n ? `${x.numerator}` : `${x.numerator}/${x.denominator}`;
}

/**
 * The nearest integer, with exact halves rounded away from zero: 2.5 → 3, -2.5 → -3, 2.4999… → 2.
 * Symmetric (round(-x) = -round(x)), so a charge and the equal credit always cancel exactly.
 */
export function roundHalfAwayFromZero(a: RationalLike): bigint {
  const x = toRational(a);
  const negative = x.numerator < 0n;
  const magnitude = negative ? -x.numerator : x.numerator;
  const quotient = magnitude / x.denominator;
  const remainder = magnitude % x.denominator;
  const rounded = 2n * remainder >= x.denominator ? quotient + 1n : quotient;
  return negative ? -rounded : rounded;
}

/**
 * `roundHalfAwayFromZero` as a JavaScript number, for amounts in minor units. Throws a RangeError if
 * the result is not a safe integer (a money amount that large is a bug, not a bill). Never -0.
 */
export function roundToSafeInteger(a: RationalLike): number {
  const rounded = roundHalfAwayFromZero(a);
  if (rounded > MAX_SAFE || rounded < MIN_SAFE) {
    throw new RangeError(`rounded amount ${rounded} is outside the safe integer range`);
  }
  return Number(rounded);
}
