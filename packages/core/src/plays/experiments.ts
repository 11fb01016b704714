/**
 * Experiments on plays: which arm an account is in, and what the arms' numbers say.
 *
 * Assignment is a pure hash of (play id, experiment salt, account id) and nothing else — no plan,
 * no segment, no clock, no stored draw — so it is the same after a restart, on every node, and after
 * the account's attributes change (docs/plays.md, "Experiments"). The statistics are plain
 * floating point: they are estimates, never money.
 */

export interface ExperimentVariant {
  readonly id: string;
  /** a positive integer; an arm's share is its weight over the sum */
  readonly weight: number;
}

/** The playbook's experiment block (a play's `experiment`), as assignment reads it. */
export interface ExperimentDesign {
  /** whole percent of accounts held out (they see nothing: the control), 0–99 */
  readonly holdout: number;
  readonly variants: readonly ExperimentVariant[];
}

export interface ExperimentKey {
  readonly play: string;
  /** changes every assignment when changed (a new version of the experiment re-draws its arms) */
  readonly salt: string;
  readonly account: string;
}

export type ExperimentAssignment =
  | { readonly arm: "holdout" }
  | { readonly arm: "variant"; readonly variant: string };

/** The name of the holdout arm in results. */
export const HOLDOUT = "holdout";

/** UTF-8 bytes of a string, written out so core needs no TextEncoder. */
function utf8(text: string): number[] {
  const bytes: number[] = [];
  for (const char of text) {
    const c = char.codePointAt(0) as number;
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return bytes;
}

/** FNV-1a, 32 bits, over the UTF-8 bytes (the published offset basis and prime). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * FNV-1a followed by MurmurHash3's 32-bit finaliser: FNV alone moves its high bits little when
 * only the last characters differ (acct_0001, acct_0002…), and the arms are cut from the high bits.
 */
export function assignmentHash(text: string): number {
  let h = fnv1a32(text);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_32 = 2 ** 32;

/** ⌊hash × n ÷ 2³²⌋: a bucket in [0, n), exact in doubles for n up to 2²⁰. */
function bucket(text: string, n: number): number {
  return Math.floor((assignmentHash(text) * n) / TWO_POW_32);
}

function checkDesign(design: ExperimentDesign): void {
  if (!Number.isInteger(design.holdout) || design.holdout < 0 || design.holdout > 99)
    throw new RangeError(`holdout must be a whole percent from 0 to 99, got ${design.holdout}`);
  if (design.variants.length === 0) throw new RangeError("an experiment needs at least one variant");
  const ids = new Set<string>();
  for (const v of design.variants) {
    if (!Number.isInteger(v.weight) || v.weight < 1 || v.weight > 10_000)
      throw new RangeError(`variant "${v.id}" needs a whole weight from 1 to 10,000, got ${v.weight}`);
    if (ids.has(v.id)) throw new RangeError(`variant "${v.id}" is listed twice`);
    ids.add(v.id);
  }
}

// A separator no id contains, so ("a", "bc") and ("ab", "c") never hash alike.
const SEP = "\u0000";

/**
 * The arm of one account: first the holdout, from its own draw (so changing the variants' weights
 * never moves an account in or out of the holdout), then a variant by weight from a second draw.
 * Variants are taken in id order, so listing them in another order changes nothing.
 */
export function assignExperiment(key: ExperimentKey, design: ExperimentDesign): ExperimentAssignment {
  checkDesign(design);
  const base = [key.play, key.salt, key.account].join(SEP);
  if (bucket(`${base}${SEP}holdout`, 100) < design.holdout) return { arm: "holdout" };
  const variants = [...design.variants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  let point = bucket(`${base}${SEP}variant`, total);
  for (const v of variants) {
    if (point < v.weight) return { arm: "variant", variant: v.id };
    point -= v.weight;
  }
  throw new Error("unreachable: the point falls inside the weights");
}

/**
 * The share of all accounts each arm expects: the holdout its percent, each variant its weight's
 * part of the rest. The sample-ratio check compares exposures against these.
 */
export function expectedShares(design: ExperimentDesign): ReadonlyMap<string, number> {
  checkDesign(design);
  const total = design.variants.reduce((sum, v) => sum + v.weight, 0);
  const shares = new Map<string, number>();
  if (design.holdout > 0) shares.set(HOLDOUT, design.holdout / 100);
  for (const v of design.variants) shares.set(v.id, ((100 - design.holdout) / 100) * (v.weight / total));
  return shares;
}

/** The salt of an experiment that names none: changing a salt re-draws every account's arm. */
export const DEFAULT_EXPERIMENT_SALT = "v1";

/** A play's arm for an account (null: the play runs no experiment), with the play's salt. */
export function playArm(
  play: {
    readonly id: string;
    readonly experiment?: (ExperimentDesign & { readonly salt?: string }) | undefined;
  },
  account: string,
): ExperimentAssignment | null {
  if (!play.experiment) return null;
  const salt = play.experiment.salt ?? DEFAULT_EXPERIMENT_SALT;
  return assignExperiment({ play: play.id, salt, account }, play.experiment);
}
