import { z } from "zod";

/**
 * A playbook to apply or validate: the document as JSON (any object: the playbook's own validation
 * judges it, with every issue and its path), or its YAML text sent as application/yaml or text/yaml
 * (the issues then carry their line and column).
 */
export const PlaybookBody = z
  .union([
    z.record(z.string(), z.unknown()).describe("A playbook document (see playbook.schema.json)"),
    z.string().describe("The playbook's YAML text, sent as application/yaml or text/yaml"),
  ])
  .describe("A playbook: the document as JSON, or its YAML text");

/** The media types a playbook's text is accepted as. */
export const PLAYBOOK_TEXT_TYPES = ["application/yaml", "text/yaml"] as const;
