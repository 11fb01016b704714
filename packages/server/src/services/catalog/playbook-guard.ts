import { type ResolvedCatalog, validatePlaybook } from "@uptier/core";
import { desc, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { playbookVersions } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";

/**
 * A catalog that would leave the playbook in force invalid (a feature, plan or add-on its plays name
 * removed; a template variable no longer available) is refused whole with the playbook's issues:
 * the vendor applies a playbook without them first. Holds the playbook's versions (share lock, taken
 * before the catalog writes anything) so no playbook is applied between this check and the commit.
 */
export async function requirePlaybookStillValid(tx: Tx, catalog: ResolvedCatalog): Promise<void> {
  await tx.execute(sql`lock table ${playbookVersions} in share mode`);
  const [inForce] = await tx
    .select({ version: playbookVersions.version, document: playbookVersions.document })
    .from(playbookVersions)
    .orderBy(desc(playbookVersions.version))
    .limit(1);
  if (!inForce) return;
  const check = validatePlaybook(inForce.document, catalog);
  if (check.ok) return;
  const first = check.issues[0];
  throw new DomainError(
    "catalog_breaks_playbook",
    `This catalog would leave playbook version ${inForce.version} invalid — ${first?.path}: ${first?.message}${
      check.issues.length > 1 ? `; ${check.issues.length - 1} more issue(s)` : ""
    }. Apply a playbook that does without them first.`,
    {
      issues: check.issues,
      errors: check.issues.map((i) => ({ param: `playbook.${i.path}`, message: i.message })),
    },
  );
}
