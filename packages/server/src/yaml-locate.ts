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

/**
 * Reading a YAML (or JSON) document a vendor checks in — the catalog, the playbook — so that every
 * issue core's validation reports by path (`plays[2].trigger.feature`) points at its
 * `file:line:col`: the nearest node that exists on the issue's path.
 */

/** An issue as core reports it: a dotted path and a message. */
export interface PathIssue {
  readonly path: string;
  readonly message: string;
}

export interface LocatedIssue extends PathIssue {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

export interface ParsedYaml {
  /** the document as plain values, for core's validation */
  readonly value: unknown;
  /** syntax errors and repeated keys: when there are any, `value` is not worth validating */
  readonly issues: readonly LocatedIssue[];
  /** points issues reported by path at their line and column in the file */
  locate(issues: readonly PathIssue[]): LocatedIssue[];
}

export function parseYaml(file: string, text: string): ParsedYaml {
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
  let startOf: ((segments: readonly (string | number)[]) => number | undefined) | undefined;
  return {
    value: issues.length > 0 ? undefined : doc.toJS(),
    issues,
    locate(found) {
      startOf ??= locator(doc);
      const start = startOf;
      return found.map((issue) => {
        const at = start(pathSegments(issue.path));
        if (at === undefined) return { ...issue, file };
        const pos = lines.linePos(at);
        return { ...issue, file, line: pos.line, column: pos.col };
      });
    },
  };
}

/** Splits "plans.pro.tiers[1].up_to" into ["plans", "pro", "tiers", 1, "up_to"]. */
function pathSegments(path: string): (string | number)[] {
  if (path === "(root)") return [];
  return path.split(".").flatMap((part) => {
    const [head, ...indexes] = part.split(/[[\]]+/).filter(Boolean);
    return [head as string, ...indexes.map(Number)];
  });
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
