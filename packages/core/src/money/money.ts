import { type Currency, currencyExponent } from "./currency.ts";
import { memoize } from "./memoize.ts";

/** An amount of money in integer minor units ({ amount: 1500, currency: "usd" } is $15.00). */
export interface Money {
  readonly amount: number;
  readonly currency: Currency;
}

export function money(amount: number, currency: Currency): Money {
  if (!Number.isSafeInteger(amount))
    throw new RangeError(`amount must be an integer of minor units, got ${amount}`);
  currencyExponent(currency);
  return { amount, currency };
}

function assertSameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw new RangeError(`currency mismatch: ${a.currency} vs ${b.currency}`);
}

export function addMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return money(a.amount + b.amount, a.currency);
}

export function subtractMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return money(a.amount - b.amount, a.currency);
}

export function sumMoney(items: readonly Money[], currency: Currency): Money {
  return items.reduce((total, item) => addMoney(total, item), money(0, currency));
}

// Building an Intl.NumberFormat costs far more than using one (quotes format a dozen amounts):
// keep one per locale and currency. The cache holds values, not state, so formatting stays pure.
const FORMATTERS = new Map<string, Intl.NumberFormat>();
function formatterFor(locale: string, currency: string, exponent: number): Intl.NumberFormat {
  const key = `${locale} ${currency}`;
  let formatter = FORMATTERS.get(key);
  if (!formatter) {
    formatter = new Intl.NumberFormat(locale, {
      style: "currency",
      currency: currency.toUpperCase(),
      minimumFractionDigits: exponent,
      maximumFractionDigits: exponent,
    });
    FORMATTERS.set(key, formatter);
  }
  return formatter;
}

/**
 * "$15.00", "¥1,500", "-$7.26". Display only: never parse the result back. Uses a fixed locale so
 * copy computed on the server and in a test reads the same.
 */
export function formatMoney(value: Money, locale = "en-US"): string {
  return formatted(`${locale} ${value.currency} ${value.amount}`);
}

const formatted = memoize((key: string) => {
  const [locale, currency, amount] = key.split(" ") as [string, Currency, string];
  return formatMoneyOnce({ amount: Number(amount), currency }, locale);
});

function formatMoneyOnce(value: Money, locale: string): string {
  const exponent = currencyExponent(value.currency);
  const formatter = formatterFor(locale, value.currency, exponent);
  // Build the decimal string from the integer so no float ever represents the amount.
  const negative = value.amount < 0;
  const digits = Math.abs(value.amount)
    .toString()
    .padStart(exponent + 1, "0");
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return formatter.format(`${negative ? "-" : ""}${major}` as unknown as number);
}
