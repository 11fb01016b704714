/**
 * `npm run bench [name…]`: runs each benchmark in bench/*.bench.ts (or the named ones) and writes
 * its markdown section into BENCHMARKS.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`.
 * Every benchmark reports ratios against a baseline measured in the same run, because this machine
 * is shared and noisy: absolute numbers move, ratios much less.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

export interface BenchmarkModule {
  /** Runs the benchmark and returns its BENCHMARKS.md section (markdown, without the markers). */
  default: () => Promise<string>;
}

const dir = import.meta.dirname;
const file = join(dir, "..", "BENCHMARKS.md");
const wanted = process.argv.slice(2);
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => basename(f, ".bench.ts"))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();
if (names.length === 0) {
  process.stderr.write(`no benchmark matches ${wanted.join(", ")}\n`);
  process.exit(1);
}

let doc = (() => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "# Benchmarks\n\nWritten by `npm run bench`; each section is replaced when its benchmark runs.\n";
  }
})();
for (const name of names) {
  process.stdout.write(`\n▶ ${name}\n`);
  const module = (await import(join(dir, `${name}.bench.ts`))) as BenchmarkModule;
  const section = (await module.default()).trim();
  process.stdout.write(`${section}\n`);
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${start}\n${section}\n${end}`;
  const at = doc.indexOf(start);
  doc =
    at >= 0
      ? doc.slice(0, at) + block + doc.slice(doc.indexOf(end) + end.length)
      : `${doc.trimEnd()}\n\n${block}\n`;
}
writeFileSync(file, doc);
