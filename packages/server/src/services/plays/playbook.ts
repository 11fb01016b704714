import { createHash } from "node:crypto";
import { type Playbook, validatePlaybook } from "@uptier/core";
import { desc, sql } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { catalogVersions, playbookVersions } from "../../db/schema/index.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { parsePlaybookText } from "../../playbook-file.ts";
import { currentCatalog } from "../catalog/apply.ts";
import { type DocumentIssue, DomainError } from "../errors.ts";
import { recordEvent } from "../events/append.ts";

/**
 * The playbook as code, applied as versions like the catalog (docs/plays.md, applying a playbook):
 * validated against the catalog in force and refused whole with every issue, or stored as the next
 * version. The same document applied again changes nothing.
 */

/** What is applied: the document as values (JSON), or its text (YAML or JSON), kept as the source. */
export type PlaybookInput =
  | { readonly document: unknown }
  | { readonly text: string /** names the text in issues (a file) */; readonly file?: string };

export interface PlaybookVersion {
  readonly version: number;
  readonly playbook: Playbook;
  readonly source: string | null;
  readonly catalogVersion: number;
  readonly appliedAt: Date;
}

export interface PlaybookApplyResult extends PlaybookVersion {
  /** false when the document was the one in force already */
  readonly changed: boolean;
}

export type PlaybookCheck =
  | { readonly ok: true; readonly playbook: Playbook; readonly catalogVersion: number }
  | { readonly ok: false; readonly issues: readonly DocumentIssue[] };

/** Validates a playbook against the catalog in force, changing nothing. */
export async function checkPlaybook(db: Executor, input: PlaybookInput): Promise<PlaybookCheck> {
  const catalog = await currentCatalog(db);
  if (!catalog)
    throw new DomainError(
      "catalog_not_applied",
      "No catalog has been applied yet: a playbook is validated against the catalog in force.",
    );
  if ("text" in input) {
    const result = parsePlaybookText(input.text, catalog.catalog, input.file ?? "playbook");
    if (result.ok) return { ok: true, playbook: result.playbook, catalogVersion: catalog.version };
    return { ok: false, issues: result.issues.map(({ file: _, ...issue }) => issue) };
  }
  const result = validatePlaybook(input.document, catalog.catalog);
  if (result.ok) return { ok: true, playbook: result.playbook, catalogVersion: catalog.version };
  return { ok: false, issues: result.issues };
}

export function invalidPlaybook(issues: readonly DocumentIssue[]): DomainError {
  const first = issues[0];
  const where = first?.line ? ` (line ${first.line}, column ${first.column})` : "";
  return new DomainError(
    "playbook_invalid",
    `The playbook is invalid — ${first?.path}: ${first?.message}${where}${issues.length > 1 ? `; ${issues.length - 1} more issue(s)` : ""}.`,
    { issues, errors: issues.map((i) => ({ param: i.path, message: i.message })) },
  );
}

const hashOf = (value: unknown) => createHash("sha256").update(canonicalJson(value)).digest("hex");

/**
 * Applies a playbook: refused whole (`playbook_invalid`, every issue) unless it validates against the
 * catalog in force; the document in force applied again returns its version and writes nothing.
 */
export async function applyPlaybook(tx: Tx, input: PlaybookInput, at: Date): Promise<PlaybookApplyResult> {
  // One apply at a time (versions are numbered in order), and no catalog applied between the
  // check and the commit: the catalog version recorded is the one still in force.
  await tx.execute(sql`lock table ${playbookVersions} in share row exclusive mode`);
  await tx.execute(sql`lock table ${catalogVersions} in share mode`);
  const check = await checkPlaybook(tx, input);
  if (!check.ok) throw invalidPlaybook(check.issues);
  const hash = hashOf(check.playbook);
  const [latest] = await tx.select().from(playbookVersions).orderBy(desc(playbookVersions.version)).limit(1);
  if (latest?.hash === hash) return { ...versionOf(latest), changed: false };
  const row = {
    version: (latest?.version ?? 0) + 1,
    hash,
    document: check.playbook,
    source: "text" in input ? input.text : null,
    catalogVersion: check.catalogVersion,
    appliedAt: at,
  };
  await tx.insert(playbookVersions).values(row);
  await recordEvent(tx, {
    type: "playbook.applied",
    accountId: null,
    data: {
      version: row.version,
      catalog_version: row.catalogVersion,
      plays: check.playbook.plays.map((p) => p.id),
    },
    at,
  });
  return { ...versionOf(row), changed: true };
}

/**
 * The playbook in force read from the database, as a PlaybookSource; the server reads it through a
 * PlaybookCache (playbook-cache.ts).
 */
export const playbookInForce = async (db: Executor) => (await currentPlaybook(db))?.playbook ?? null;

/** The playbook in force: the last version applied, or null before the first. */
export async function currentPlaybook(db: Executor): Promise<PlaybookVersion | null> {
  const [latest] = await db.select().from(playbookVersions).orderBy(desc(playbookVersions.version)).limit(1);
  return latest ? versionOf(latest) : null;
}

function versionOf(row: typeof playbookVersions.$inferSelect): PlaybookVersion {
  return {
    version: row.version,
    playbook: row.document as Playbook,
    source: row.source,
    catalogVersion: row.catalogVersion,
    appliedAt: row.appliedAt,
  };
}
