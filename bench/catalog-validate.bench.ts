/**
 * `uptier catalog validate` on large catalogs: the time to read and validate a file of 10,000 and
 * of 100,000 entries, which should grow in proportion (ratio ≈ 10). The floor is yaml's own parse
 * of the same file to plain JS, measured the same way.
 *
 * Each measurement runs in a fresh process (this file, run with the catalog's path), so one size's
 * heap never weighs on the other's collections.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { MAX_PLAN_CHAIN } from "@uptier/core";
import { LineCounter, parseDocument } from "yaml";
import { readCatalogFile } from "../packages/server/src/catalog-file.ts";

const SIZES = [10_000, 100_000];
const RUNS = 3;
const TSX = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/**
 * A valid catalog of `n` entries: features (a third of them metered, each with its meter), plans
 * in extends chains as long as allowed, written children first (each walk up a chain is as long as
 * the chain), and add-ons in one requires chain. `refused`: every limit feature has an unknown field.
 */
function catalogYaml(n: number, refused = false): string {
  const features = Math.floor(n * 0.3);
  const meters = Math.floor(features / 3);
  const plans = Math.floor(n * 0.2);
  const addOns = n - features - meters - plans;
  const out: string[] = ["currency: usd", "features:"];
  for (let i = 0; i < features; i++)
    out.push(
      i < meters
        ? `  f${i}: { kind: metered, name: Feature ${i}, meter: m${i}, overage: { policy: soft, grace_percent: 10 } }`
        : `  f${i}: { kind: limit, name: Feature ${i}${refused ? ", colour: red" : ""} }`,
    );
  out.push("meters:");
  for (let i = 0; i < meters; i++)
    out.push(`  m${i}: { event: e${i}, aggregation: count, reset: billing_period }`);
  out.push("plans:");
  for (let i = plans - 1; i >= 0; i--)
    out.push(
      `  p${i}: { name: Plan ${i}, tier: ${i},${i % MAX_PLAN_CHAIN > 0 ? ` extends: p${i - 1},` : ""} ` +
        `prices: { month: { base: ${i}, seat: { model: per_unit, unit_amount: 100 } } }, seats: { included: 1 }, grants: { f${i % features}: ${i} } }`,
    );
  out.push("add_ons:");
  for (let i = 0; i < addOns; i++)
    out.push(
      `  a${i}: { name: Add-on ${i}, prices: { month: { model: flat, amount: 100 } }, grants: { f${i % features}: 1 }${i > 0 ? `, requires: [a${i - 1}]` : ""} }`,
    );
  return `${out.join("\n")}\n`;
}

type Task = "floor" | "validate";

/** In the child: one task on one file, its time in ms and the issues found on stdout. */
async function measure(task: Task, file: string): Promise<{ ms: number; issues: number }> {
  const text = task === "floor" ? await readFile(file, "utf8") : "";
  const start = performance.now();
  let issues = 0;
  if (task === "floor") parseDocument(text, { lineCounter: new LineCounter(), uniqueKeys: false }).toJS();
  else {
    const result = await readCatalogFile(file);
    issues = result.ok ? 0 : result.issues.length;
  }
  return { ms: performance.now() - start, issues };
}

async function inChild(task: Task, file: string): Promise<{ ms: number; issues: number }> {
  const { stdout } = await promisify(execFile)(TSX, [SELF, task, file], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { ms: number; issues: number };
}

export default async function catalogValidateBenchmark(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "uptier-bench-catalog-"));
  try {
    const rows = [];
    for (const n of SIZES) {
      const file = join(dir, `catalog-${n}.yaml`);
      const refused = join(dir, `refused-${n}.yaml`);
      await writeFile(file, catalogYaml(n));
      await writeFile(refused, catalogYaml(n, true));
      const bytes = (await readFile(file)).length;
      rows.push({
        n,
        file,
        refused,
        bytes,
        issues: 0,
        floor: Infinity,
        validate: Infinity,
        refuse: Infinity,
      });
    }
    // Sizes in alternation, best of the runs: this machine is shared, and a slow spell should not
    // land on one size only.
    for (let run = 0; run < RUNS; run++)
      for (const row of rows) {
        const valid = await inChild("validate", row.file);
        if (valid.issues > 0) throw new Error(`the ${row.n}-entry catalog is invalid`);
        const refuse = await inChild("validate", row.refused);
        if (refuse.issues === 0)
          throw new Error(`the ${row.n}-entry catalog with unknown fields was accepted`);
        row.issues = refuse.issues;
        row.floor = Math.min(row.floor, (await inChild("floor", row.file)).ms);
        row.validate = Math.min(row.validate, valid.ms);
        row.refuse = Math.min(row.refuse, refuse.ms);
      }
    const [small, large] = rows as [(typeof rows)[number], (typeof rows)[number]];
    const ms = (v: number) => v.toFixed(0);
    const ratio = (key: "floor" | "validate" | "refuse") => (large[key] / small[key]).toFixed(1);
    return [
      "## Catalog validation (`npm run bench -- catalog-validate`)",
      "",
      `readCatalogFile (what \`uptier catalog validate\` runs: read, parse, duplicate keys, validate, resolve extends, locate each issue) on generated catalogs: 30% features, 10% meters, 20% plans in extends chains of ${MAX_PLAN_CHAIN} written children first, 40% add-ons in one requires chain; each measurement in a fresh process, best of ${RUNS}; Node ${process.version}.`,
      "",
      "| entries | file | yaml parse to JS (floor) | validate | per entry | refused (an unknown field in each limit feature) |",
      "| ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${r.n.toLocaleString("en-US")} | ${(r.bytes / 1e6).toFixed(1)} MB | ${ms(r.floor)} ms | ${ms(r.validate)} ms | ${((r.validate / r.n) * 1000).toFixed(0)} µs | ${ms(r.refuse)} ms, ${r.issues.toLocaleString("en-US")} issues located |`,
      ),
      "",
      `10× the entries: validate ${ratio("validate")}×, refuse ${ratio("refuse")}×, the floor ${ratio("floor")}× (linear: 10×).`,
    ].join("\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [task, file] = process.argv.slice(2) as [Task, string];
  process.stdout.write(JSON.stringify(await measure(task, file)));
}
