import { z } from "zod";
import { Instant } from "./fields.ts";

/** What the playbook routes answer (docs/plays.md, applying a playbook). */

export const PlaybookIssueResponse = z
  .object({
    path: z.string().describe("Where in the document, such as plays[2].trigger.feature"),
    message: z.string(),
    line: z.number().int().optional().describe("In the text sent, when it was sent as YAML"),
    column: z.number().int().optional(),
  })
  .meta({ id: "PlaybookIssue" });

export const PlaybookResponse = z
  .object({
    object: z.literal("playbook"),
    version: z.number().int().describe("Each apply that changes the document is the next version"),
    catalog_version: z.number().int().describe("The catalog version it was validated against"),
    applied_at: Instant,
    playbook: z
      .record(z.string(), z.unknown())
      .describe("The document as validated, defaults filled in (see playbook.schema.json)"),
    source: z.string().nullable().describe("The text it was applied from, when it was sent as text"),
  })
  .meta({ id: "Playbook" });

export const PlaybookApplyResponse = PlaybookResponse.extend({
  changed: z.boolean().describe("false when the document was the one in force: nothing was written"),
}).meta({ id: "PlaybookApplied" });

export const PlaybookValidationResponse = z
  .object({ valid: z.boolean(), issues: z.array(PlaybookIssueResponse) })
  .meta({ id: "PlaybookValidation" });
