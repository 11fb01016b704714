import { readFile } from "node:fs/promises";
import { type Playbook, type PlaybookCatalog, validatePlaybook } from "@uptier/core";
import { type LocatedIssue, parseYaml } from "./yaml-locate.ts";

export type PlaybookFileResult =
  | { readonly ok: true; readonly playbook: Playbook }
  | { readonly ok: false; readonly issues: readonly LocatedIssue[] };

/**
 * Validates a playbook's text (YAML, or JSON, which is YAML) against the catalog in force, every
 * issue pointed at its line and column; `file` names where the text came from.
 */
export function parsePlaybookText(text: string, catalog: PlaybookCatalog, file: string): PlaybookFileResult {
  const parsed = parseYaml(file, text);
  if (parsed.issues.length > 0) return { ok: false, issues: parsed.issues };
  const validation = validatePlaybook(parsed.value, catalog);
  if (validation.ok) return { ok: true, playbook: validation.playbook };
  return { ok: false, issues: parsed.locate(validation.issues) };
}

/** Reads a playbook file (uptier.playbook.yaml) and validates it against the catalog in force. */
export async function readPlaybookFile(file: string, catalog: PlaybookCatalog): Promise<PlaybookFileResult> {
  return parsePlaybookText(await readFile(file, "utf8"), catalog, file);
}
