import { readFile } from "node:fs/promises";
import { type CatalogValidation, validateCatalog } from "@uptier/core";
import { type LocatedIssue, parseYaml } from "./yaml-locate.ts";

export { formatIssue, type LocatedIssue } from "./yaml-locate.ts";

export type CatalogFileResult =
  | { readonly ok: true; readonly validation: Extract<CatalogValidation, { ok: true }> }
  | { readonly ok: false; readonly issues: readonly LocatedIssue[] };

/**
 * Reads a catalog file (YAML, or JSON, which is YAML) and validates it, pointing every issue at
 * its line in the file: the nearest node that exists on the issue's path.
 */
export async function readCatalogFile(file: string): Promise<CatalogFileResult> {
  const parsed = parseYaml(file, await readFile(file, "utf8"));
  if (parsed.issues.length > 0) return { ok: false, issues: parsed.issues };
  const validation = validateCatalog(parsed.value);
  if (validation.ok) return { ok: true, validation };
  return { ok: false, issues: parsed.locate(validation.issues) };
}
