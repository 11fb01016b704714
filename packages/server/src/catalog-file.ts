import { readFile } from "node:fs/promises";
import { type CatalogIssue, type CatalogValidation, validateCatalog } from "@uptier/core";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";

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
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0)
    return {
      ok: false,
      issues: doc.errors.map((e) => ({
        file,
        path: "(syntax)",
        message: e.message.split("\n")[0] ?? e.message,
        line: e.linePos?.[0]?.line,
        column: e.linePos?.[0]?.col,
      })),
    };
  const validation = validateCatalog(doc.toJS());
  if (validation.ok) return { ok: true, validation };
  return {
    ok: false,
    issues: validation.issues.map((issue) => {
      const segments = pathSegments(issue.path);
      for (let n = segments.length; n >= 0; n--) {
        const node = doc.getIn(segments.slice(0, n), true) as
          | { range?: [number, number, number] }
          | undefined;
        const range = node && (isMap(node) || isSeq(node) || node.range) ? node.range : undefined;
        if (range) {
          const pos = lines.linePos(range[0]);
          return { ...issue, file, line: pos.line, column: pos.col };
        }
      }
      return { ...issue, file };
    }),
  };
}

export function formatIssue(issue: LocatedIssue): string {
  const where = issue.line ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.path}: ${issue.message}`;
}
