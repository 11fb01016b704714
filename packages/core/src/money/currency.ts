/**
 * ISO 4217 currencies and their minor-unit exponents. Amounts are always integers in minor units,
 * so the exponent is what tells 1500 USD cents ($15.00) from 1500 JPY (¥1,500).
 * Source: the ISO 4217 list (amendment 178). Funds codes and precious metals are left out: nobody
 * bills a SaaS seat in XAU.
 */
const ZERO_DECIMAL = "bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf";
const THREE_DECIMAL = "bhd iqd jod kwd lyd omr tnd";
const FOUR_DECIMAL = "clf uyw";
const TWO_DECIMAL =
  "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd btn bwp byn bzd cad cdf " +
  "chf cny cop crc cuc cup cve czk dkk dop dzd egp ern etb eur fjd fkp gbp gel ghs gip gmd gtq gyd hkd " +
  "hnl htg huf idr ils inr irr jmd kes kgs khr kpw kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt " +
  "mop mru mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub sar " +
  "sbd scr sdg sek sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt top try ttd twd tzs uah usd " +
  "uzs ved ves wst xcd xcg yer zar zmw zwg zwl";

const EXPONENTS: ReadonlyMap<string, number> = new Map([
  ...TWO_DECIMAL.split(" ").map((c) => [c, 2] as const),
  ...ZERO_DECIMAL.split(" ").map((c) => [c, 0] as const),
  ...THREE_DECIMAL.split(" ").map((c) => [c, 3] as const),
  ...FOUR_DECIMAL.split(" ").map((c) => [c, 4] as const),
]);

/** Lower-case ISO 4217 code, as Stripe writes them ("usd", "jpy"). */
export type Currency = string;

export function isCurrency(code: string): boolean {
  return EXPONENTS.has(code);
}

/** Number of decimal places of the currency's minor unit: usd 2, jpy 0, kwd 3. */
export function currencyExponent(currency: Currency): number {
  const exponent = EXPONENTS.get(currency);
  if (exponent === undefined) throw new RangeError(`unknown currency "${currency}"`);
  return exponent;
}

export const CURRENCIES: readonly Currency[] = [...EXPONENTS.keys()].sort();
