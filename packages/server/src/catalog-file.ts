import { readFile } from "node:fs/promises";
import { type CatalogIssue, type CatalogValidation, validateCatalog } from "@uptier/core";
import {
  type Document,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type YAMLMap,
} from "yaml";

export interface LocatedIssue extends CatalogIssue {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

export type CatalogFileResult =
  | { readonly ok: true; readonly validation: Extract<CatalogValidation, { ok: true }> }
  | { readonly ok: false; readonly issues: readonly LocatedIssue[] };

/** Splits "plans.pro.tiers[1].up_to" into ["plans", "pro", "tiers", 1, "up_to"]. */
function pathSegments(path: string): (string | number)[] {
  if (path === "(root)") return [];
  return path.split(".").flatMap((part) => {
    const [head, ...indexes] = part.split(/[[\]]+/).filter(Boolean);
    return [head as string, ...indexes.map(Number)];
  });
}

/**
 * Reads a catalog file (YAML, or JSON, which is YAML) and validates it, pointing every issue at
 * its line in the file: the nearest node that exists on the issue's path.
 */
export async function readCatalogFile(file: string): Promise<CatalogFileResult> {
  const text = await readFile(file, "utf8");
  const lines = new LineCounter();
  // yaml's own duplicate-key check scans each map for every key it adds (quadratic in a map's size).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: false });
  const syntax = doc.errors.map((e) => ({
    file,
    path: "(syntax)",
    message: e.message.split("\n")[0] ?? e.message,
    line: e.linePos?.[0]?.line,
    column: e.linePos?.[0]?.col,
  }));
  const issues = [...syntax, ...duplicateKeys(doc, lines).map((issue) => ({ file, ...issue }))];
  if (issues.length > 0) return { ok: false, issues };
  const validation = validateCatalog(doc.toJS());
  if (validation.ok) return { ok: true, validation };
  const startOf = locator(doc);
  return {
    ok: false,
    issues: validation.issues.map((issue) => {
      const start = startOf(pathSegments(issue.path));
      if (start === undefined) return { ...issue, file };
      const pos = lines.linePos(start);
      return { ...issue, file, line: pos.line, column: pos.col };
    }),
  };
}

/**
 * Where the deepest node of a path that the document has begins. Each mapping is indexed once
 * (yaml's own lookup scans the mapping, which for one issue per entry is quadratic).
 */
function locator(doc: Document): (segments: readonly (string | number)[]) => number | undefined {
  const indexes = new WeakMap<YAMLMap, Map<string, unknown>>();
  const child = (node: unknown, segment: string | number): unknown => {
    if (isSeq(node)) return typeof segment === "number" ? node.items[segment] : undefined;
    if (!isMap(node)) return undefined;
    let index = indexes.get(node);
    if (!index) {
      index = new Map();
      for (const { key, value } of node.items)
        if (isScalar(key) && !index.has(String(key.value))) index.set(String(key.value), value);
      indexes.set(node, index);
    }
    return index.get(String(segment));
  };
  return (segments) => {
    let node: unknown = doc.contents;
    let start = isNode(node) ? node.range?.[0] : undefined;
    for (const segment of segments) {
      node = child(node, segment);
      if (!isNode(node)) break;
      start = node.range?.[0] ?? start;
    }
    return start;
  };
}

/** Keys repeated within one mapping, each at the repeated key, found with one set per mapping. */
function duplicateKeys(doc: Document, lines: LineCounter): Omit<LocatedIssue, "file">[] {
  const found: { at: number; name: string; first: number }[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Map<string, number>();
      for (const { key } of map.items) {
        if (!isScalar(key) || !key.range) continue;
        const name = String(key.value);
        const first = seen.get(name);
        if (first === undefined) {
          seen.set(name, key.range[0]);
          continue;
        }
        found.push({ at: key.range[0], name, first });
      }
    },
  });
  return found
    .sort((a, b) => a.at - b.at)
    .map(({ at, name, first }) => {
      const { line, col } = lines.linePos(at);
      return {
        path: "(syntax)",
        message: `Map keys must be unique: "${name}" is already at line ${lines.linePos(first).line}`,
        line,
        column: col,
      };
    });
}

export function formatIssue(issue: LocatedIssue): string {
  const where = issue.line ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.path}: ${issue.message}`;
}
