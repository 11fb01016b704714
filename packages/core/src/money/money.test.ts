import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CURRENCIES, currencyExponent, isCurrency } from "./currency.ts";
import { addMoney, formatMoney, money, subtractMoney, sumMoney } from "./money.ts";

const NBSP = "\u00a0";

describe("formatMoney", () => {
  it("formats USD cents with 2 decimals", () => {
    expect(formatMoney(money(1500, "usd"))).toBe("$15.00");
    expect(formatMoney(money(726, "usd"))).toBe("$7.26");
    expect(formatMoney(money(5, "usd"))).toBe("$0.05");
    expect(formatMoney(money(0, "usd"))).toBe("$0.00");
    expect(formatMoney(money(99_000, "usd"))).toBe("$990.00");
    expect(formatMoney(money(123_456_789, "usd"))).toBe("$1,234,567.89");
  });

  it("formats JPY with no decimals", () => {
    expect(formatMoney(money(1500, "jpy"))).toBe("¥1,500");
    expect(formatMoney(money(1, "jpy"))).toBe("¥1");
  });

  it("formats KWD with 3 decimals", () => {
    expect(formatMoney(money(1500, "kwd"))).toBe(`KWD${NBSP}1.500`);
    expect(formatMoney(money(1, "kwd"))).toBe(`KWD${NBSP}0.001`);
  });

  it("formats negative amounts with a leading minus, and never -0", () => {
    expect(formatMoney(money(-726, "usd"))).toBe("-$7.26");
    expect(formatMoney(money(-5, "usd"))).toBe("-$0.05");
    expect(formatMoney(money(-1500, "jpy"))).toBe("-¥1,500");
    expect(formatMoney(money(-1500, "kwd"))).toBe(`-KWD${NBSP}1.500`);
    expect(formatMoney(money(-0, "usd"))).toBe("$0.00");
  });

  it("is exact up to the largest safe integer: no float ever holds the amount", () => {
    expect(formatMoney(money(Number.MAX_SAFE_INTEGER, "usd"))).toBe("$90,071,992,547,409.91");
    expect(formatMoney(money(-Number.MAX_SAFE_INTEGER, "jpy"))).toBe("-¥9,007,199,254,740,991");
  });

  it("takes a locale", () => {
    expect(formatMoney(money(123_456, "eur"), "de-DE")).toBe(`1.234,56${NBSP}€`);
  });

  it("throws on an unknown currency", () => {
    expect(() => formatMoney({ amount: 100, currency: "xyz" })).toThrow(/unknown currency "xyz"/);
  });

  it("shows exactly the amount's digits and sign, for every currency", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CURRENCIES),
        fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        (currency, amount) => {
          const text = formatMoney(money(amount, currency));
          const digits = text.replace(/\D/g, "");
          const expected = Math.abs(amount)
            .toString()
            .padStart(currencyExponent(currency) + 1, "0");
          expect(digits).toBe(expected);
          expect(text.startsWith("-")).toBe(amount < 0);
        },
      ),
    );
  });
});

describe("money", () => {
  it("holds an integer of minor units and a currency", () => {
    expect(money(1500, "usd")).toEqual({ amount: 1500, currency: "usd" });
    expect(money(-726, "jpy")).toEqual({ amount: -726, currency: "jpy" });
  });

  it("rejects floats and non-safe integers", () => {
    for (const amount of [15.5, 0.1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
      expect(() => money(amount, "usd")).toThrow(RangeError);
    expect(() => money(15.5, "usd")).toThrow(/integer of minor units, got 15.5/);
  });

  it("rejects an unknown currency", () => {
    for (const currency of ["xyz", "USD", "", "us"]) expect(() => money(100, currency)).toThrow(RangeError);
    expect(() => money(100, "xyz")).toThrow(/unknown currency "xyz"/);
  });

  it("adds, subtracts and sums in one currency only", () => {
    expect(addMoney(money(1500, "usd"), money(726, "usd"))).toEqual(money(2226, "usd"));
    expect(subtractMoney(money(1500, "usd"), money(2000, "usd"))).toEqual(money(-500, "usd"));
    expect(sumMoney([money(1, "jpy"), money(2, "jpy")], "jpy")).toEqual(money(3, "jpy"));
    expect(sumMoney([], "eur")).toEqual(money(0, "eur"));
    expect(() => addMoney(money(1, "usd"), money(1, "eur"))).toThrow(/currency mismatch/);
    expect(() => addMoney(money(Number.MAX_SAFE_INTEGER, "usd"), money(1, "usd"))).toThrow(RangeError);
  });
});

describe("currencies", () => {
  it("knows each currency's minor-unit exponent", () => {
    expect(currencyExponent("usd")).toBe(2);
    expect(currencyExponent("eur")).toBe(2);
    expect(currencyExponent("jpy")).toBe(0);
    expect(currencyExponent("krw")).toBe(0);
    expect(currencyExponent("kwd")).toBe(3);
    expect(currencyExponent("clf")).toBe(4);
    expect(() => currencyExponent("xyz")).toThrow(RangeError);
  });

  it("accepts lower-case ISO 4217 codes only", () => {
    expect(isCurrency("usd")).toBe(true);
    expect(isCurrency("USD")).toBe(false);
    expect(isCurrency("xyz")).toBe(false);
    expect(isCurrency("")).toBe(false);
    expect(CURRENCIES.every((c) => /^[a-z]{3}$/.test(c) && isCurrency(c))).toBe(true);
    expect(new Set(CURRENCIES).size).toBe(CURRENCIES.length);
  });
});
