import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PriceModel } from "../catalog/price-model.ts";
import { formatMoney } from "../money/money.ts";
import { type BillingInterval, periodAt, periodBoundary } from "../periods/billing-period.ts";
import {
  capCredit,
  capCreditLine,
  type InvoiceLine,
  type PricedItem,
  type ProrationPeriod,
  pricedItem,
  prorateAddition,
  prorateChange,
  prorateQuantityChange,
  prorateRemoval,
  prorateReplacement,
  prorationFraction,
  recurringLine,
} from "./proration.ts";
import { rational } from "./rational.ts";

const utc = (s: string) => new Date(s);
const monthly = (anchor: string, at: string) => periodAt(utc(anchor), "month", utc(at));
const seat = (quantity: number, unitAmount = 1500): PricedItem => ({ name: "Seat", quantity, unitAmount });
const sum = (lines: readonly InvoiceLine[]) => lines.reduce((total, line) => total + line.amount, 0);

describe("prorationFraction", () => {
  const period = monthly("2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z"); // Jan 1 → Feb 1, 31 days

  it("is (end − t) ÷ (end − start) in whole seconds, exact", () => {
    expect(prorationFraction(period, utc("2026-01-16T12:00:00Z"))).toEqual(rational(1, 2));
    expect(prorationFraction(period, utc("2026-01-17T00:00:00Z"))).toEqual(rational(15, 31));
  });

  it("is 1 anywhere in the first second of the period and 0 at its end", () => {
    expect(prorationFraction(period, utc("2026-01-01T00:00:00.000Z"))).toEqual(rational(1));
    expect(prorationFraction(period, utc("2026-01-01T00:00:00.999Z"))).toEqual(rational(1));
    expect(prorationFraction(period, utc("2026-01-01T00:00:01.000Z"))).toEqual(
      rational(2_678_399, 2_678_400),
    );
    expect(prorationFraction(period, utc("2026-01-31T23:59:59.000Z"))).toEqual(rational(1, 2_678_400));
    expect(prorationFraction(period, utc("2026-01-31T23:59:59.999Z"))).toEqual(rational(1, 2_678_400));
    expect(prorationFraction(period, utc("2026-02-01T00:00:00.000Z"))).toEqual(rational(0));
  });

  it("truncates milliseconds: every instant in one second has the same fraction", () => {
    expect(prorationFraction(period, utc("2026-01-16T12:00:00.001Z"))).toEqual(rational(1, 2));
    expect(prorationFraction(period, utc("2026-01-16T12:00:00.999Z"))).toEqual(rational(1, 2));
  });

  it("rejects an instant outside the period", () => {
    expect(() => prorationFraction(period, utc("2025-12-31T23:59:59.999Z"))).toThrow(RangeError);
    expect(() => prorationFraction(period, utc("2026-02-01T00:00:00.001Z"))).toThrow(RangeError);
    expect(() => prorationFraction(period, new Date(Number.NaN))).toThrow(RangeError);
    const empty = { start: period.start, end: period.start };
    expect(() => prorationFraction(empty, period.start)).toThrow(RangeError);
  });
});

describe("worked examples (docs/pricing-and-proration.md)", () => {
  it("a $15.00 seat added with 15 days left of a 31-day month is $7.26 today", () => {
    const period = monthly("2026-01-01T00:00:00Z", "2026-01-17T00:00:00Z");
    const line = prorateQuantityChange({
      period,
      at: utc("2026-01-17T00:00:00Z"),
      currency: "usd",
      name: "Seat",
      unitAmount: 1500,
      fromQuantity: 4,
      toQuantity: 5,
    });
    expect(line).toEqual({
      description: "Remaining time on 1 × Seat after 2026-01-17",
      periodStart: utc("2026-01-17T00:00:00Z"),
      periodEnd: utc("2026-02-01T00:00:00Z"),
      quantity: 1,
      unitAmount: 1500,
      amount: 726, // 1500 × 15/31 = 725.806…
      proration: true,
      kind: "charge",
    });
    expect(formatMoney({ amount: line?.amount ?? 0, currency: "usd" })).toBe("$7.26");
  });

  it("a $15.00 seat added at 2026-01-16T12:00Z (anchor Jan 1) is exactly half a month: $7.50", () => {
    const at = utc("2026-01-16T12:00:00Z");
    const period = periodAt(utc("2026-01-01T00:00:00Z"), "month", at);
    const line = prorateAddition({ period, at, currency: "usd", item: seat(1) });
    expect(line.amount).toBe(750); // 1500 × 1 339 200 s / 2 678 400 s
    expect(line.periodStart).toEqual(at);
    expect(line.kind).toBe("charge");
  });

  it("10 seats: rounds the line once ($72.58), not the prorated unit price (10 × $7.26 = $72.60)", () => {
    const at = utc("2026-01-17T00:00:00Z");
    const line = prorateQuantityChange({
      period: monthly("2026-01-01T00:00:00Z", "2026-01-17T00:00:00Z"),
      at,
      currency: "usd",
      name: "Seat",
      unitAmount: 1500,
      fromQuantity: 5,
      toQuantity: 15,
    });
    expect(line?.amount).toBe(7258);
  });

  it("February of a leap year has 29 days: $10.00 with 15 days left is $5.17 (2024), 14 of 28 is $5.00 (2025)", () => {
    const leap = monthly("2024-01-01T00:00:00Z", "2024-02-15T00:00:00Z");
    expect(leap.end).toEqual(utc("2024-03-01T00:00:00Z"));
    const at = utc("2024-02-15T00:00:00Z");
    expect(prorationFraction(leap, at)).toEqual(rational(15, 29));
    expect(prorateAddition({ period: leap, at, currency: "usd", item: seat(1, 1000) }).amount).toBe(517);
    const common = monthly("2025-01-01T00:00:00Z", "2025-02-15T00:00:00Z");
    const at2025 = utc("2025-02-15T00:00:00Z");
    expect(prorateAddition({ period: common, at: at2025, currency: "usd", item: seat(1, 1000) }).amount).toBe(
      500,
    );
  });

  it("anchor on the 31st: the Jan 31 → Feb 28 period is 28 days; half of $9.99 is 499.5 → $5.00 / −$5.00", () => {
    const at = utc("2026-02-14T00:00:00Z");
    const period = periodAt(utc("2026-01-31T00:00:00Z"), "month", at);
    expect(period.start).toEqual(utc("2026-01-31T00:00:00Z"));
    expect(period.end).toEqual(utc("2026-02-28T00:00:00Z"));
    expect(prorationFraction(period, at)).toEqual(rational(1, 2));
    const item = { name: "Add-on", quantity: 1, unitAmount: 999 };
    expect(prorateAddition({ period, at, currency: "usd", item }).amount).toBe(500);
    expect(prorateRemoval({ period, at, currency: "usd", item }).amount).toBe(-500);
    // and the next period returns to the 31st
    expect(periodAt(utc("2026-01-31T00:00:00Z"), "month", period.end).end).toEqual(
      utc("2026-03-31T00:00:00Z"),
    );
  });

  it("JPY has no minor unit: 3 seats at ¥1,500 with 10 of 31 days left is ¥1,452", () => {
    const at = utc("2026-01-22T00:00:00Z");
    const line = prorateQuantityChange({
      period: monthly("2026-01-01T00:00:00Z", "2026-01-22T00:00:00Z"),
      at,
      currency: "jpy",
      name: "Seat",
      unitAmount: 1500,
      fromQuantity: 2,
      toQuantity: 5,
    });
    expect(line?.amount).toBe(1452); // 4500 × 10/31 = 1451.61…
    expect(formatMoney({ amount: 1452, currency: "jpy" })).toBe("¥1,452");
  });

  it("KWD has 3 decimals: a 4.995 KWD add-on with 7 of 30 days left is 1.1655 → 1.166 KWD", () => {
    const at = utc("2026-04-24T00:00:00Z");
    const period = monthly("2026-04-01T00:00:00Z", "2026-04-24T00:00:00Z");
    expect(prorationFraction(period, at)).toEqual(rational(7, 30));
    const line = prorateAddition({
      period,
      at,
      currency: "kwd",
      item: { name: "Add-on", quantity: 1, unitAmount: 4995 },
    });
    expect(line.amount).toBe(1166); // 4995 × 7/30 = 1165.5 fils, half away from zero
  });

  it("an annual plan upgraded in month 7: −$604.93 credit, +$1,209.86 charge", () => {
    const at = utc("2026-07-01T00:00:00Z");
    const period = periodAt(utc("2026-01-01T00:00:00Z"), "year", at);
    expect(prorationFraction(period, at)).toEqual(rational(184, 365));
    const [credit, charge] = prorateReplacement({
      period,
      at,
      currency: "usd",
      replaced: { name: "Team (annual)", quantity: 1, unitAmount: 120_000 },
      replacement: { name: "Business (annual)", quantity: 1, unitAmount: 240_000 },
    });
    expect(credit).toMatchObject({
      description: "Unused time on 1 × Team (annual) after 2026-07-01",
      amount: -60_493, // 120 000 × 184/365 = 60 493.15
      kind: "credit",
      proration: true,
      periodStart: at,
      periodEnd: utc("2027-01-01T00:00:00Z"),
    });
    expect(charge).toMatchObject({
      description: "Remaining time on 1 × Business (annual) after 2026-07-01",
      amount: 120_986, // 240 000 × 184/365 = 120 986.30
      kind: "charge",
    });
    expect(credit.amount + charge.amount).toBe(60_493);
  });

  it("two seat changes in one period are prorated independently", () => {
    const anchor = utc("2026-03-01T00:00:00Z");
    const first = utc("2026-03-11T00:00:00Z");
    const second = utc("2026-03-21T00:00:00Z");
    const base = { currency: "usd", name: "Seat", unitAmount: 1500 };
    const up = prorateQuantityChange({
      ...base,
      period: periodAt(anchor, "month", first),
      at: first,
      fromQuantity: 5,
      toQuantity: 7,
    });
    const down = prorateQuantityChange({
      ...base,
      period: periodAt(anchor, "month", second),
      at: second,
      fromQuantity: 7,
      toQuantity: 6,
    });
    expect(up).toMatchObject({ amount: 2032, quantity: 2, kind: "charge" }); // 3000 × 21/31 = 2032.26
    expect(down).toMatchObject({
      amount: -532, // 1500 × 11/31 = 532.26
      quantity: 1,
      kind: "credit",
      description: "Unused time on 1 × Seat after 2026-03-21",
    });
  });

  it("a change at the first second of a period charges the full price; at the last second, almost nothing", () => {
    const period = monthly("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
    const item = seat(1);
    expect(prorateAddition({ period, at: period.start, currency: "usd", item }).amount).toBe(1500);
    expect(
      prorateAddition({ period, at: utc("2026-01-01T00:00:00.999Z"), currency: "usd", item }).amount,
    ).toBe(1500);
    const lastSecond = utc("2026-01-31T23:59:59Z");
    expect(prorateAddition({ period, at: lastSecond, currency: "usd", item }).amount).toBe(0);
    // $1,000,000.00 for one second of 2 678 400: 37.34 cents
    const big = { name: "Enterprise", quantity: 1, unitAmount: 100_000_000 };
    expect(prorateAddition({ period, at: lastSecond, currency: "usd", item: big }).amount).toBe(37);
    // at the end itself nothing is left; never -0 on a credit
    const credit = prorateRemoval({ period, at: period.end, currency: "usd", item });
    expect(Object.is(credit.amount, 0)).toBe(true);
  });

  it("percent_of_plan: 15% of a $48.99 plan, added at mid-period, is 367.425 → $3.67 (not $7.35 ÷ 2 → $3.68)", () => {
    const at = utc("2026-01-16T12:00:00Z");
    const period = monthly("2026-01-01T00:00:00Z", "2026-01-16T12:00:00Z");
    const model: PriceModel = { model: "percent_of_plan", basis_points: 1500 };
    const item = pricedItem("Premium support", model, 1, { planAmount: 4899 });
    expect(item).toEqual({
      name: "Premium support",
      quantity: 1,
      unitAmount: null,
      amount: rational(146_970, 200),
    });
    expect(prorateAddition({ period, at, currency: "usd", item }).amount).toBe(367);
    expect(recurringLine({ period, currency: "usd", item }).amount).toBe(735);
  });

  it("a graduated price changing quantity is a replacement: credit the old total, charge the new", () => {
    const model: PriceModel = {
      model: "tiered",
      tiers: [
        { up_to: 5, unit_amount: 1000, flat_amount: 0 },
        { up_to: 20, unit_amount: 800, flat_amount: 0 },
        { up_to: null, unit_amount: 500, flat_amount: 0 },
      ],
    };
    const at = utc("2026-01-16T12:00:00Z");
    const lines = prorateChange({
      period: monthly("2026-01-01T00:00:00Z", "2026-01-16T12:00:00Z"),
      at,
      currency: "usd",
      from: pricedItem("API units", model, 5),
      to: pricedItem("API units", model, 25),
    });
    expect(lines.map((l) => [l.kind, l.quantity, l.unitAmount, l.amount])).toEqual([
      ["credit", 5, null, -2500], // 5 000 × 1/2
      ["charge", 25, null, 9750], // 19 500 × 1/2
    ]);
  });
});

describe("line structure", () => {
  const at = utc("2026-01-17T00:00:00Z");
  const period = monthly("2026-01-01T00:00:00Z", "2026-01-17T00:00:00Z");
  const base = { period, at, currency: "usd" };

  it("prorateChange: one line for a quantity-only change, two for a price change, none for no change", () => {
    expect(prorateChange({ ...base, from: seat(4), to: seat(5) })).toHaveLength(1);
    expect(prorateChange({ ...base, from: seat(4), to: seat(4, 2000) })).toHaveLength(2);
    expect(prorateChange({ ...base, from: seat(4), to: { ...seat(4), name: "Pro seat" } })).toHaveLength(2);
    expect(prorateChange({ ...base, from: seat(4), to: seat(4) })).toEqual([]);
    expect(
      prorateQuantityChange({ ...base, name: "Seat", unitAmount: 1500, fromQuantity: 3, toQuantity: 3 }),
    ).toBe(null);
  });

  it("price and quantity together is a credit on q₀·p₀ and a charge on q₁·p₁", () => {
    const [credit, charge] = prorateReplacement({
      ...base,
      replaced: seat(4, 1500),
      replacement: seat(6, 2000),
      descriptions: { credit: "Unused Seat", charge: "Pro Seat" },
    });
    expect(credit).toMatchObject({
      description: "Unused Seat",
      quantity: 4,
      unitAmount: 1500,
      amount: -2903,
    });
    expect(charge).toMatchObject({ description: "Pro Seat", quantity: 6, unitAmount: 2000, amount: 5806 });
  });

  it("prorates the amount net of discounts without rounding it first", () => {
    // 20% off 3 × $9.99 = 2397.6 cents a month; half a month is 1198.8 → $11.99
    const item: PricedItem = { name: "Seat", quantity: 3, unitAmount: 999, amount: rational(23_976, 10) };
    const mid = utc("2026-01-16T12:00:00Z");
    expect(prorateAddition({ ...base, at: mid, item }).amount).toBe(1199);
    const line = prorateQuantityChange({
      ...base,
      at: mid,
      name: "Seat",
      unitAmount: 999,
      netUnitAmount: rational(7992, 10),
      fromQuantity: 0,
      toQuantity: 3,
    });
    expect(line).toMatchObject({ amount: 1199, unitAmount: 999 });
  });

  it("renewal lines are full-period and not prorations", () => {
    expect(recurringLine({ period, currency: "usd", item: seat(5) })).toEqual({
      description: "5 × Seat",
      periodStart: period.start,
      periodEnd: period.end,
      quantity: 5,
      unitAmount: 1500,
      amount: 7500,
      proration: false,
      kind: "charge",
    });
  });

  it("rejects bad input with RangeError", () => {
    expect(() => prorateAddition({ ...base, currency: "xxx", item: seat(1) })).toThrow(RangeError);
    expect(() => prorateAddition({ ...base, item: seat(-1) })).toThrow(RangeError);
    expect(() => prorateAddition({ ...base, item: seat(1, 1.5) })).toThrow(RangeError);
    expect(() => prorateAddition({ ...base, item: { name: "X", quantity: 1, unitAmount: null } })).toThrow(
      /needs an amount/,
    );
    expect(() =>
      prorateAddition({ ...base, item: { name: "X", quantity: 1, unitAmount: null, amount: -5 } }),
    ).toThrow(RangeError);
    expect(() =>
      prorateQuantityChange({ ...base, name: "Seat", unitAmount: 1500, fromQuantity: 1.5, toQuantity: 2 }),
    ).toThrow(RangeError);
  });
});

describe("capCredit", () => {
  it("never credits more than was charged for the item and period, less earlier credits", () => {
    expect(capCredit(500, 1000, 0)).toBe(500);
    expect(capCredit(500, 1000, 600)).toBe(400);
    expect(capCredit(500, 400, 500)).toBe(0);
    expect(() => capCredit(-1, 0, 0)).toThrow(RangeError);
  });

  it("caps a credit line; charges pass through", () => {
    const at = utc("2026-01-17T00:00:00Z");
    const period = monthly("2026-01-01T00:00:00Z", "2026-01-17T00:00:00Z");
    // the seat was added free (100% off, charged 0), so removing it credits nothing
    const credit = prorateRemoval({ period, at, currency: "usd", item: seat(1) });
    expect(credit.amount).toBe(-726);
    expect(capCreditLine(credit, 0, 0)).toEqual({ ...credit, amount: 0 });
    expect(Object.is(capCreditLine(credit, 0, 0).amount, 0)).toBe(true);
    expect(capCreditLine(credit, 1000, 500).amount).toBe(-500);
    expect(capCreditLine(credit, 1500, 0)).toBe(credit);
    const charge = prorateAddition({ period, at, currency: "usd", item: seat(1) });
    expect(capCreditLine(charge, 0, 0)).toBe(charge);
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties

const intervals = fc.constantFrom<BillingInterval>("month", "year");
/** A billing period from an anchor in 2000–2040 (whole seconds, as anchors are), months 0–24 after. */
const periods: fc.Arbitrary<ProrationPeriod> = fc
  .tuple(fc.integer({ min: 946_684_800, max: 2_208_988_800 }), intervals, fc.integer({ min: 0, max: 24 }))
  .map(([seconds, interval, k]) => {
    const anchor = new Date(seconds * 1000);
    return { start: periodBoundary(anchor, interval, k), end: periodBoundary(anchor, interval, k + 1) };
  });
/** An instant in [start, end], milliseconds included. */
const instantIn = (period: ProrationPeriod) =>
  fc.integer({ min: period.start.getTime(), max: period.end.getTime() }).map((ms) => new Date(ms));
const periodAndInstant = periods.chain((period) => instantIn(period).map((at) => ({ period, at })));
const currencies = fc.constantFrom("usd", "jpy", "kwd", "eur");
const unitAmounts = fc.integer({ min: 0, max: 10_000_000 });
const quantities = fc.integer({ min: 0, max: 1000 });
const items: fc.Arbitrary<PricedItem> = fc.oneof(
  fc.record({ name: fc.constantFrom("Seat", "Pro seat"), quantity: quantities, unitAmount: unitAmounts }),
  fc
    .record({
      name: fc.constant("Plan"),
      quantity: fc.integer({ min: 1, max: 10 }),
      numerator: fc.integer({ min: 0, max: 1_000_000_000 }),
      denominator: fc.integer({ min: 1, max: 10_000 }),
    })
    .map(({ name, quantity, numerator, denominator }) => ({
      name,
      quantity,
      unitAmount: null,
      amount: rational(numerator, denominator),
    })),
);

/** n·f as a float, for comparisons allowed an error of whole minor units. */
const exactTimes = (amount: number, f: { numerator: bigint; denominator: bigint }) =>
  (amount * Number(f.numerator)) / Number(f.denominator);

describe("properties", () => {
  it("f is in [0, 1], 1 at the start, 0 at the end, and never increases with t", () => {
    fc.assert(
      fc.property(
        periods.chain((p) => fc.tuple(fc.constant(p), instantIn(p), instantIn(p))),
        ([period, a, b]) => {
          const [early, late] = a <= b ? [a, b] : [b, a];
          const fe = prorationFraction(period, early);
          const fl = prorationFraction(period, late);
          expect(fl.numerator * fe.denominator <= fe.numerator * fl.denominator).toBe(true);
          expect(fe.numerator >= 0n && fe.numerator <= fe.denominator).toBe(true);
          expect(prorationFraction(period, period.start)).toEqual(rational(1));
          expect(prorationFraction(period, period.end)).toEqual(rational(0));
        },
      ),
    );
  });

  it("credit + charge at t equals the price difference × f within 1 minor unit", () => {
    fc.assert(
      fc.property(
        periodAndInstant,
        currencies,
        unitAmounts,
        unitAmounts,
        quantities,
        quantities,
        (w, c, p0, p1, q0, q1) => {
          const [credit, charge] = prorateReplacement({
            ...w,
            currency: c,
            replaced: seat(q0, p0),
            replacement: seat(q1, p1),
          });
          const f = prorationFraction(w.period, w.at);
          const exact = exactTimes(q1 * p1 - q0 * p0, f);
          expect(Math.abs(credit.amount + charge.amount - exact)).toBeLessThanOrEqual(1 + 1e-6);
          // and each line is within half a unit of its own exact value
          expect(Math.abs(charge.amount - exactTimes(q1 * p1, f))).toBeLessThanOrEqual(0.5 + 1e-6);
        },
      ),
    );
  });

  it("a quantity change is one line within half a unit of Δq·p·f, and within 1 of the credit-and-charge pair", () => {
    fc.assert(
      fc.property(periodAndInstant, unitAmounts, quantities, quantities, (w, p, q0, q1) => {
        const line = prorateQuantityChange({
          ...w,
          currency: "usd",
          name: "Seat",
          unitAmount: p,
          fromQuantity: q0,
          toQuantity: q1,
        });
        const f = prorationFraction(w.period, w.at);
        if (q0 === q1) {
          expect(line).toBeNull();
          return;
        }
        expect(Math.abs((line?.amount ?? 0) - exactTimes((q1 - q0) * p, f))).toBeLessThanOrEqual(0.5 + 1e-6);
        const pair = prorateReplacement({
          ...w,
          currency: "usd",
          replaced: seat(q0, p),
          replacement: seat(q1, p),
        });
        expect(Math.abs((line?.amount ?? 0) - sum(pair))).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("a change and its reverse in the same second net to exactly 0", () => {
    fc.assert(
      fc.property(
        periodAndInstant,
        fc.integer({ min: 0, max: 999 }),
        items,
        items,
        currencies,
        ({ period, at }, ms, a, b, currency) => {
          // the reverse happens later in the same whole second (and still inside the period)
          const second = Math.floor(at.getTime() / 1000) * 1000;
          const later = new Date(Math.min(second + ms, period.end.getTime()));
          if (later.getTime() < at.getTime()) return;
          const there = prorateChange({ period, at, currency, from: a, to: b });
          const back = prorateChange({ period, at: later, currency, from: b, to: a });
          expect(sum(there) + sum(back)).toBe(0);
        },
      ),
    );
  });

  it("any sequence of seat and price changes never bills more than the exact time-weighted amount + 1 per line", () => {
    const change = fc.record({
      quantity: fc.integer({ min: 0, max: 50 }),
      unitAmount: fc.constantFrom(999, 1500, 2000, 4995),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        periods,
        fc.integer({ min: 0, max: 50 }),
        fc.array(change, { maxLength: 12 }),
        (period, q0, changes) => {
          const start = period.start.getTime();
          const length = period.end.getTime() - start;
          const steps = changes
            .map((c) => ({ ...c, at: new Date(start + Math.floor(c.at * length)) }))
            .sort((x, y) => x.at.getTime() - y.at.getTime());
          // the period starts with a full charge for q0 seats at $15.00
          let current = seat(q0, 1500);
          const lines: InvoiceLine[] = [recurringLine({ period, currency: "usd", item: current })];
          // exact time-weighted amount, in (minor units × seconds) over the period's seconds
          const total = BigInt(period.end.getTime() / 1000 - start / 1000);
          let weighted = 0n;
          let from = BigInt(start / 1000);
          for (const step of steps) {
            const t = BigInt(Math.floor(step.at.getTime() / 1000));
            weighted += BigInt(current.quantity * (current.unitAmount ?? 0)) * (t - from);
            from = t;
            const next = seat(step.quantity, step.unitAmount);
            lines.push(...prorateChange({ period, at: step.at, currency: "usd", from: current, to: next }));
            current = next;
          }
          weighted +=
            BigInt(current.quantity * (current.unitAmount ?? 0)) *
            (BigInt(period.end.getTime() / 1000) - from);
          const billed = BigInt(sum(lines));
          const slack = BigInt(lines.length);
          // billed ≤ exact + lines, and billed ≥ exact − lines (all scaled by the period's seconds)
          expect(billed * total <= weighted + slack * total).toBe(true);
          expect(billed * total >= weighted - slack * total).toBe(true);
          // tighter: every line is off by at most half a minor unit
          const error = billed * total * 2n - weighted * 2n;
          expect((error < 0n ? -error : error) <= slack * total).toBe(true);
        },
      ),
    );
  });

  it("amounts are never negative except credits (and a credit is never -0)", () => {
    fc.assert(
      fc.property(periodAndInstant, items, items, currencies, (w, from, to, currency) => {
        const lines = [
          ...prorateChange({ ...w, currency, from, to }),
          prorateAddition({ ...w, currency, item: to }),
          prorateRemoval({ ...w, currency, item: from }),
          recurringLine({ period: w.period, currency, item: to }),
        ];
        for (const line of lines) {
          expect(Number.isSafeInteger(line.amount)).toBe(true);
          if (line.kind === "charge") expect(line.amount).toBeGreaterThanOrEqual(0);
          else expect(line.amount <= 0 && !Object.is(line.amount, -0)).toBe(true);
          expect(line.quantity).toBeGreaterThanOrEqual(0);
          expect(line.periodStart.getTime()).toBeGreaterThanOrEqual(w.period.start.getTime());
          expect(line.periodEnd).toEqual(w.period.end);
        }
      }),
    );
  });

  it("capped credits never add up to more than was charged", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 100_000 })), { maxLength: 30 }),
        (events) => {
          let charged = 0;
          let credited = 0;
          for (const [isCharge, amount] of events) {
            if (isCharge) charged += amount;
            else credited += capCredit(amount, charged, credited);
            expect(credited).toBeLessThanOrEqual(charged);
          }
        },
      ),
    );
  });
});
