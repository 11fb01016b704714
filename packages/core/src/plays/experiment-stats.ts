/**
 * The numbers of an experiment's arms: exposures, conversions, conversion rate, each arm against
 * the control with a two-proportion z-test, and a sample-ratio-mismatch check (a χ² test of the
 * exposures against the arms' expected shares: a mismatch means the assignment or the logging is
 * broken, and the results are not to be read). Estimates in floating point, never money.
 */

export interface ArmCounts {
  readonly arm: string;
  /** accounts exposed to the arm (the holdout: accounts that would have seen the prompt) */
  readonly exposures: number;
  /** of those, the accounts that converted */
  readonly conversions: number;
}

export interface ProportionTest {
  /** the arm's rate minus the control's */
  readonly difference: number;
  readonly z: number;
  /** two-sided */
  readonly pValue: number;
}

export interface ArmResult extends ArmCounts {
  /** conversions ÷ exposures; null without exposures */
  readonly rate: number | null;
  /** against the control; null for the control itself and when the test is undefined */
  readonly test: ProportionTest | null;
}

export interface SampleRatioCheck {
  readonly chiSquare: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
  /** p below SRM_ALPHA: the split is not what the design asked for */
  readonly mismatch: boolean;
}

export interface ExperimentResults {
  readonly control: string;
  readonly arms: readonly ArmResult[];
  /** null when fewer than two arms were expected or nothing was exposed */
  readonly sampleRatio: SampleRatioCheck | null;
}

/** The usual threshold for a sample-ratio mismatch: strict, since the check runs continuously. */
export const SRM_ALPHA = 0.001;

function checkCounts(c: ArmCounts): void {
  if (!Number.isSafeInteger(c.exposures) || c.exposures < 0)
    throw new RangeError(`arm "${c.arm}": exposures must be a whole number ≥ 0`);
  if (!Number.isSafeInteger(c.conversions) || c.conversions < 0 || c.conversions > c.exposures)
    throw new RangeError(`arm "${c.arm}": conversions must be a whole number from 0 to the exposures`);
}

/**
 * erfc(x), Numerical Recipes' Chebyshev fit (fractional error below 1.2 × 10⁻⁷ everywhere): enough
 * for p-values, and no dependency.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/**
 * The two-proportion z-test with the pooled standard error: is the arm's rate different from the
 * control's? Null when it is undefined (an arm without exposures, or a pooled rate of 0 or 1).
 */
export function twoProportionZTest(arm: ArmCounts, control: ArmCounts): ProportionTest | null {
  checkCounts(arm);
  checkCounts(control);
  if (arm.exposures === 0 || control.exposures === 0) return null;
  const p1 = arm.conversions / arm.exposures;
  const p0 = control.conversions / control.exposures;
  const pooled = (arm.conversions + control.conversions) / (arm.exposures + control.exposures);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / arm.exposures + 1 / control.exposures));
  if (!(se > 0)) return null;
  const z = (p1 - p0) / se;
  return { difference: p1 - p0, z, pValue: Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) };
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let sum = c[0] as number;
  for (let i = 1; i < 9; i++) sum += (c[i] as number) / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Q(a, x) = Γ(a, x) ÷ Γ(a): a series below a + 1, a continued fraction (Lentz) above. */
function upperRegularizedGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-15; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - sum * lead);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, lead * h);
}

/** P(χ² ≥ x) with k degrees of freedom. */
export function chiSquareSurvival(x: number, k: number): number {
  if (!(k > 0)) throw new RangeError("degrees of freedom must be positive");
  return upperRegularizedGamma(k / 2, x / 2);
}

/**
 * Pearson's χ² of the observed exposures against the expected shares (which need not sum to 1:
 * they are normalised). Arms expected at 0 are left out. Null with fewer than two arms or no
 * exposures.
 */
export function sampleRatioMismatch(
  observed: ReadonlyMap<string, number>,
  shares: ReadonlyMap<string, number>,
): SampleRatioCheck | null {
  const arms = [...shares].filter(([, share]) => share > 0);
  const totalShare = arms.reduce((sum, [, s]) => sum + s, 0);
  const n = arms.reduce((sum, [arm]) => sum + (observed.get(arm) ?? 0), 0);
  if (arms.length < 2 || n === 0) return null;
  let chiSquare = 0;
  for (const [arm, share] of arms) {
    const expected = (n * share) / totalShare;
    const diff = (observed.get(arm) ?? 0) - expected;
    chiSquare += (diff * diff) / expected;
  }
  const degreesOfFreedom = arms.length - 1;
  const pValue = chiSquareSurvival(chiSquare, degreesOfFreedom);
  return { chiSquare, degreesOfFreedom, pValue, mismatch: pValue < SRM_ALPHA };
}

/**
 * Every arm's rate and its test against the control (the holdout when there is one, else the arm
 * named), with the sample-ratio check against the design's shares.
 */
export function experimentResults(
  arms: readonly ArmCounts[],
  control: string,
  shares: ReadonlyMap<string, number>,
): ExperimentResults {
  arms.forEach(checkCounts);
  const base = arms.find((a) => a.arm === control);
  if (!base) throw new RangeError(`the control arm "${control}" has no counts`);
  const results = arms.map(
    (a): ArmResult => ({
      ...a,
      rate: a.exposures > 0 ? a.conversions / a.exposures : null,
      test: a.arm === control ? null : twoProportionZTest(a, base),
    }),
  );
  const observed = new Map(arms.map((a) => [a.arm, a.exposures]));
  return { control, arms: results, sampleRatio: sampleRatioMismatch(observed, shares) };
}
