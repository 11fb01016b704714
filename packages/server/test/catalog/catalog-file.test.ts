import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIssue, readCatalogFile } from "../../src/catalog-file.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "uptier-catalog-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function issuesOf(lines: string[]): Promise<string[]> {
  const file = join(dir, "catalog.yaml");
  await writeFile(file, `${lines.join("\n")}\n`);
  const result = await readCatalogFile(file);
  if (result.ok) throw new Error("expected the file to be refused");
  return result.issues.map((issue) => formatIssue(issue).slice(file.length + 1));
}

/** A catalog of one plan, Team, with these lines under its `prices:` (which is line 8). */
const teamPricedAt = (prices: string[]) => [
  "currency: usd",
  "features: {}",
  "plans:",
  "  team:",
  "    name: Team",
  "    tier: 0",
  "    seats: { included: 0 }",
  "    prices:",
  ...prices,
];

describe("readCatalogFile", () => {
  it("reports a key repeated in one mapping at the repeat, naming the first, at any depth", async () => {
    expect(
      await issuesOf([
        "currency: usd",
        "features:",
        "  a: { kind: boolean, name: A }",
        "  b: { kind: boolean, name: B, name: C }",
        "  a: { kind: boolean, name: A2 }",
        "plans: {}",
        "currency: eur",
      ]),
    ).toEqual([
      '4:32: (syntax): Map keys must be unique: "name" is already at line 4',
      '5:3: (syntax): Map keys must be unique: "a" is already at line 3',
      '7:1: (syntax): Map keys must be unique: "currency" is already at line 1',
    ]);
  });

  it("points a bound that is broken at its line: the amount, or the seat price it multiplies", async () => {
    expect(
      await issuesOf(
        teamPricedAt([
          "      month:",
          "        base: 0",
          "        seat: { model: per_unit, unit_amount: 9007199254740991 }",
          "      year:",
          "        base: 0",
          "        seat:",
          "          model: per_unit",
          "          unit_amount: 1000001",
        ]),
      ),
    ).toEqual([
      "11:47: plans.team.prices.month.seat.unit_amount: at most 1,000,000,000,000 minor units (the most one item costs)",
    ]);
    expect(
      await issuesOf(
        teamPricedAt([
          "      year:",
          "        base: 0",
          "        seat:",
          "          model: per_unit",
          "          unit_amount: 1000001",
        ]),
      ),
    ).toEqual([
      "12:11: plans.team.prices.year.seat: with 1,000,000 seats the plan costs 1,000,001,000,000 minor units per year; a plan costs at most 1,000,000,000,000 per period (lower the prices or set seats.max)",
    ]);
  });
});
