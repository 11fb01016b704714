/**
 * Enforces the architecture of shared/DESIGN.md, failing CI when broken:
 * - packages/core is pure: it imports only its own files and the allow-listed pure libraries — no
 *   node: built-ins, no I/O library, nothing of server/sdk/dashboard — and its non-test code reads
 *   no clock and no randomness (Date.now(), new Date() without arguments, Math.random, crypto);
 * - server, sdk and dashboard import core through `@uptier/core` and never each other's files.
 */
import { type Dirent, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const CORE_ALLOWED_PACKAGES = new Set(["zod"]);
const PACKAGES = ["core", "server", "sdk", "dashboard"] as const;
/** core's public faces: the domain, and the wire contract (schemas and the event catalog) */
const PUBLIC_CORE_ENTRIES = new Set(["@uptier/core", "@uptier/core/api"]);

function sourceFiles(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Tests, and core's test support (src/testing/), may do I/O. */
const isTest = (file: string) => /\.(test|spec)\.tsx?$/.test(file) || file.includes("/src/testing/");
const violations: string[] = [];

for (const pkg of PACKAGES) {
  const pkgDir = join(root, "packages", pkg);
  for (const file of sourceFiles(join(pkgDir, "src"))) {
    const text = readFileSync(file, "utf8");
    const where = relative(root, file);
    const imports = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    for (const spec of imports) {
      if (spec.startsWith(".")) {
        const target = resolve(file, "..", spec);
        if (!target.startsWith(pkgDir))
          violations.push(`${where}: imports "${spec}", a file outside packages/${pkg}`);
        continue;
      }
      const name = spec.startsWith("@")
        ? spec.split("/").slice(0, 2).join("/")
        : (spec.split("/")[0] ?? spec);
      if (pkg === "core") {
        if (isTest(file)) continue;
        if (!CORE_ALLOWED_PACKAGES.has(name))
          violations.push(`${where}: packages/core must stay pure, but imports "${spec}"`);
      } else if (name.startsWith("@uptier/") && name !== "@uptier/core") {
        violations.push(`${where}: packages/${pkg} imports "${spec}"; only @uptier/core is shared`);
      } else if (name === "@uptier/core" && !PUBLIC_CORE_ENTRIES.has(spec)) {
        violations.push(`${where}: imports core's internals ("${spec}"); import from "@uptier/core"`);
      }
    }
    if (pkg === "core" && !isTest(file)) {
      const impure: [RegExp, string][] = [
        [/\bDate\.now\s*\(/, "reads the clock (Date.now)"],
        [/\bnew Date\s*\(\s*\)/, "reads the clock (new Date())"],
        [/\bMath\.random\s*\(/, "uses randomness (Math.random)"],
        [/\bcrypto\./, "uses crypto"],
        [/\bprocess\./, "reads the process environment"],
      ];
      for (const [pattern, what] of impure)
        if (pattern.test(text)) violations.push(`${where}: packages/core ${what}`);
    }
  }
}

if (violations.length > 0) {
  process.stderr.write(`Dependency direction is broken:\n${violations.map((v) => `  ${v}`).join("\n")}\n`);
  process.exit(1);
}
process.stdout.write("Dependency direction OK: core is pure; packages share only @uptier/core.\n");
