import { integer, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { catalogVersions, instant } from "./foundation.ts";

/**
 * The playbook as code, versioned like the catalog: every apply that changes the document is a new
 * row, never an edit, and the last row is the playbook in force.
 */
export const playbookVersions = pgTable("playbook_versions", {
  version: integer("version").primaryKey(),
  /** sha256 of the canonical validated document: applying the same playbook twice changes nothing */
  hash: text("hash").notNull(),
  /** the document as validated (defaults filled in) */
  document: jsonb("document").notNull(),
  /** the YAML or JSON text it was read from, comments and all, when it came as text */
  source: text("source"),
  /** the catalog in force when it was validated */
  catalogVersion: integer("catalog_version")
    .notNull()
    .references(() => catalogVersions.version),
  appliedAt: instant("applied_at").notNull(),
});
