/**
 * Enforces the architecture of ARCHITECTURE.md, failing CI when broken:
 * - packages/core is pure: it imports only its own files and the allow-listed pure libraries — no
 *   node: built-ins, no I/O library, nothing of server/sdk/dashboard — and its non-test code reads
 *   no clock and no randomness (Date.now(), new Date() without arguments, Math.random, crypto);
 * - server, sdk and dashboard import core through `@uptier/core` (or its wire contract,
 *   `@uptier/core/api`) and never each other's files;
 * - inside the server, services speak the domain: they import nothing of `http/` and not Fastify
 *   (refusals are DomainErrors; http/problem.ts maps codes to statuses), and routes reach the
 *   database only through services (no import of `db/`).
 */
import { type Dirent, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
// mustache: the logic-less templates of play copy (parsing and escaping only, no I/O)
const CORE_ALLOWED_PACKAGES = new Set(["zod", "mustache"]);
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

const graph = new Map<string, string[]>();
for (const pkg of PACKAGES) {
  const pkgDir = join(root, "packages", pkg);
  for (const file of sourceFiles(join(pkgDir, "src"))) {
    const text = readFileSync(file, "utf8");
    const where = relative(root, file);
    const imports = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    if (pkg === "server") violations.push(...serverLayering(file, where, imports));
    graph.set(
      file,
      imports.filter((spec) => spec.startsWith(".")).map((spec) => resolve(file, "..", spec)),
    );
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

for (const circle of importCircles(graph))
  violations.push(`import circle: ${circle.map((f) => relative(root, f)).join(" → ")}`);

/** Import circles among a package's own files (type-only imports count: they tie files together too). */
function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const circles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      const seen = state.get(next);
      if (seen === "open") circles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return circles;
}

/** The server's layers: services below http, routes above services only. */
function serverLayering(file: string, where: string, imports: readonly string[]): string[] {
  const src = join(root, "packages", "server", "src");
  const inServices = file.startsWith(join(src, "services") + sep);
  const inRoutes = file.startsWith(join(src, "http", "routes") + sep);
  const found: string[] = [];
  for (const spec of imports) {
    const target = spec.startsWith(".") ? resolve(file, "..", spec) : null;
    if (inServices && (spec === "fastify" || spec.startsWith("@fastify/") || spec.startsWith("fastify-")))
      found.push(`${where}: a service imports "${spec}"; services know nothing of HTTP`);
    if (inServices && target?.startsWith(join(src, "http") + sep))
      found.push(`${where}: a service imports "${spec}" from http/; raise a DomainError instead`);
    if (inRoutes && target?.startsWith(join(src, "db") + sep))
      found.push(`${where}: a route imports "${spec}" from db/; go through a service`);
  }
  return found;
}

if (violations.length > 0) {
  process.stderr.write(`Dependency direction is broken:\n${violations.map((v) => `  ${v}`).join("\n")}\n`);
  process.exit(1);
}
process.stdout.write(
  "Dependency direction OK: core is pure; packages share only @uptier/core; services speak no HTTP; routes reach no db/.\n",
);
