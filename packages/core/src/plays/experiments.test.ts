import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chiSquareSurvival,
  erfc,
  experimentResults,
  sampleRatioMismatch,
  twoProportionZTest,
} from "./experiment-stats.ts";
import {
  assignExperiment,
  type ExperimentDesign,
  type ExperimentKey,
  expectedShares,
  fnv1a32,
  HOLDOUT,
} from "./experiments.ts";

const split: ExperimentDesign = {
  holdout: 10,
  variants: [
    { id: "a", weight: 50 },
    { id: "b", weight: 50 },
  ],
};
const armOf = (key: ExperimentKey, design = split) => {
  const a = assignExperiment(key, design);
  return a.arm === "holdout" ? HOLDOUT : a.variant;
};

describe("fnv1a32", () => {
  it("matches the published FNV-1a 32-bit test vectors, over UTF-8 bytes", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    expect(fnv1a32("café ✓ 😀")).toBe(0x6dce7f27);
  });
});

describe("assignExperiment", () => {
  it("gives the same arms as it always has (stable across restarts and releases)", () => {
    const accounts = Array.from({ length: 16 }, (_, i) => `acct_${String(i + 1).padStart(2, "0")}`);
    const arms = accounts.map((account) => armOf({ play: "usage-80", salt: "v1", account }));
    expect(arms.join(" ")).toBe("b a b a b a a a a a b a b a holdout holdout");
  });

  it("reads nothing but the ids: the same key gives the same arm, whatever else the account carries", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (play, salt, account, plan) => {
        const key = { play, salt, account };
        const withAttributes = { ...key, plan, segment: "smb", createdAt: new Date(0) } as ExperimentKey;
        expect(armOf(withAttributes)).toBe(armOf(key));
        expect(armOf({ ...key })).toBe(armOf(key));
      }),
    );
  });

  it("does not depend on the order the variants are listed in", () => {
    fc.assert(
      fc.property(fc.string(), (account) => {
        const reversed = { ...split, variants: [...split.variants].reverse() };
        expect(armOf({ play: "p", salt: "", account }, reversed)).toBe(
          armOf({ play: "p", salt: "", account }),
        );
      }),
    );
  });

  it("keeps the holdout when only the variants' weights change", () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 10_000 }), (account, weight) => {
        const reweighted = {
          ...split,
          variants: [
            { id: "a", weight },
            { id: "b", weight: 1 },
          ],
        };
        const key = { play: "p", salt: "v1", account };
        expect(armOf(key, reweighted) === HOLDOUT).toBe(armOf(key) === HOLDOUT);
      }),
    );
  });

  it("splits many accounts as the weights ask, within sampling error", () => {
    const design = fc.record({
      holdout: fc.integer({ min: 0, max: 50 }),
      variants: fc.uniqueArray(
        fc.record({ id: fc.constantFrom("a", "b", "c", "d"), weight: fc.integer({ min: 1, max: 100 }) }),
        {
          minLength: 1,
          maxLength: 4,
          selector: (v) => v.id,
        },
      ),
    });
    const n = 20_000;
    fc.assert(
      fc.property(design, fc.string({ maxLength: 8 }), (d, salt) => {
        const counts = new Map<string, number>();
        for (let i = 0; i < n; i++) {
          const arm = armOf({ play: "usage-80", salt, account: `acct_${i}` }, d);
          counts.set(arm, (counts.get(arm) ?? 0) + 1);
        }
        for (const [arm, share] of expectedShares(d)) {
          const sd = Math.sqrt((share * (1 - share)) / n);
          expect(Math.abs((counts.get(arm) ?? 0) / n - share)).toBeLessThanOrEqual(5 * sd + 1e-9);
        }
      }),
      { numRuns: 15 },
    );
  });

  it("re-draws the arms when the salt changes", () => {
    let moved = 0;
    for (let i = 0; i < 2000; i++) {
      const account = `acct_${i}`;
      if (armOf({ play: "p", salt: "v1", account }) !== armOf({ play: "p", salt: "v2", account })) moved += 1;
    }
    // with shares .1/.45/.45 two independent draws differ 1 − (.01 + .2025 + .2025) ≈ 58.5% of the time
    expect(moved / 2000).toBeGreaterThan(0.5);
    expect(moved / 2000).toBeLessThan(0.67);
  });

  it("refuses a design the playbook would refuse", () => {
    const key = { play: "p", salt: "", account: "a" };
    expect(() => assignExperiment(key, { holdout: 100, variants: [{ id: "a", weight: 1 }] })).toThrow(
      RangeError,
    );
    expect(() => assignExperiment(key, { holdout: 0, variants: [] })).toThrow(RangeError);
    expect(() => assignExperiment(key, { holdout: 0, variants: [{ id: "a", weight: 0 }] })).toThrow(
      RangeError,
    );
    expect(() =>
      assignExperiment(key, {
        holdout: 0,
        variants: [
          { id: "a", weight: 1 },
          { id: "a", weight: 2 },
        ],
      }),
    ).toThrow(RangeError);
  });
});

describe("experiment statistics", () => {
  it("erfc matches reference values", () => {
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(erfc(1)).toBeCloseTo(0.157299207, 7);
    expect(erfc(2)).toBeCloseTo(0.004677735, 7);
    expect(erfc(-0.5)).toBeCloseTo(1.520499878, 7);
  });

  it("tests two proportions with the pooled standard error", () => {
    const test = twoProportionZTest(
      { arm: "b", exposures: 1000, conversions: 130 },
      {
        arm: "a",
        exposures: 1000,
        conversions: 100,
      },
    );
    expect(test?.difference).toBeCloseTo(0.03, 12);
    expect(test?.z).toBeCloseTo(2.1027406, 6);
    expect(test?.pValue).toBeCloseTo(0.0354885, 6);
    expect(
      twoProportionZTest(
        { arm: "b", exposures: 0, conversions: 0 },
        { arm: "a", exposures: 9, conversions: 1 },
      ),
    ).toBeNull();
    expect(
      twoProportionZTest(
        { arm: "b", exposures: 5, conversions: 0 },
        { arm: "a", exposures: 9, conversions: 0 },
      ),
    ).toBeNull();
  });

  it("gives χ² tail probabilities at the textbook critical values", () => {
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 7);
    expect(chiSquareSurvival(5.991464547107979, 2)).toBeCloseTo(0.05, 7);
    expect(chiSquareSurvival(10.827566170662733, 1)).toBeCloseTo(0.001, 7);
    expect(chiSquareSurvival(18.307038053275146, 10)).toBeCloseTo(0.05, 7);
    expect(chiSquareSurvival(16, 2)).toBeCloseTo(Math.exp(-8), 10);
    expect(chiSquareSurvival(0, 3)).toBe(1);
  });

  it("flags a sample-ratio mismatch, and only a real one", () => {
    const shares = new Map([
      ["a", 0.5],
      ["b", 0.5],
    ]);
    expect(
      sampleRatioMismatch(
        new Map([
          ["a", 5000],
          ["b", 5000],
        ]),
        shares,
      ),
    ).toMatchObject({
      chiSquare: 0,
      pValue: 1,
      mismatch: false,
    });
    const skewed = sampleRatioMismatch(
      new Map([
        ["a", 5200],
        ["b", 4800],
      ]),
      shares,
    );
    expect(skewed?.chiSquare).toBeCloseTo(16, 10);
    expect(skewed?.pValue).toBeCloseTo(6.334e-5, 7);
    expect(skewed?.mismatch).toBe(true);
    expect(sampleRatioMismatch(new Map([["a", 3]]), new Map([["a", 1]]))).toBeNull();
  });

  it("does not flag the split that assignExperiment produces", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 50_000; i++) {
      const arm = armOf({ play: "usage-95", salt: "2026-03", account: `acct_${i.toString(36)}` });
      counts.set(arm, (counts.get(arm) ?? 0) + 1);
    }
    expect(sampleRatioMismatch(counts, expectedShares(split))?.mismatch).toBe(false);
  });

  it("reports every arm against the control", () => {
    const results = experimentResults(
      [
        { arm: HOLDOUT, exposures: 1000, conversions: 100 },
        { arm: "a", exposures: 4500, conversions: 585 },
        { arm: "b", exposures: 4500, conversions: 450 },
      ],
      HOLDOUT,
      expectedShares(split),
    );
    expect(results.arms.map((a) => [a.arm, a.rate])).toEqual([
      [HOLDOUT, 0.1],
      ["a", 0.13],
      ["b", 0.1],
    ]);
    expect(results.arms[0]?.test).toBeNull();
    expect(results.arms[1]?.test?.pValue).toBeLessThan(0.01);
    expect(results.arms[2]?.test?.pValue).toBeCloseTo(1, 9);
    expect(results.sampleRatio?.mismatch).toBe(false);
    expect(() => experimentResults([{ arm: "a", exposures: 1, conversions: 2 }], "a", new Map())).toThrow(
      RangeError,
    );
  });
});
