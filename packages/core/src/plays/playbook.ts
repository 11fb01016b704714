import { z } from "zod";
import { type CatalogIssue, zodIssues } from "../catalog/validate.ts";
import {
  type Play,
  type Playbook,
  PlaybookDocument,
  PlaybookEnvelope,
  Play as PlaySchema,
} from "./document.ts";
import { checkPlaybook, type PlaybookCatalog } from "./playbook-checks.ts";

export * from "./document.ts";
export type { PlaybookCatalog } from "./playbook-checks.ts";

/** One problem in a playbook: where (a path such as `plays[2].trigger.feature`) and why. */
export type PlaybookIssue = CatalogIssue;

/** Refused whole: either the typed playbook, or every issue found. */
export type PlaybookValidation =
  | { readonly ok: true; readonly playbook: Playbook }
  | { readonly ok: false; readonly issues: readonly PlaybookIssue[] };

/**
 * Parses a playbook document (the result of reading its YAML or JSON) and checks it against the
 * catalog in force: unknown features, plans, add-ons and intervals; unknown or unavailable template
 * variables; escalation cycles; impossible windows; repeated ids. Pure.
 */
export function validatePlaybook(input: unknown, catalog: PlaybookCatalog): PlaybookValidation {
  const envelope = PlaybookEnvelope.safeParse(input);
  if (!envelope.success) return { ok: false, issues: zodIssues(envelope.error) };
  // Each play is parsed on its own, so the plays that parse are cross-checked even when another
  // does not: one pass names every issue.
  const issues: PlaybookIssue[] = [];
  const plays: (Play | undefined)[] = envelope.data.plays.map((raw, i) => {
    const play = PlaySchema.safeParse(raw);
    if (play.success) return play.data;
    for (const issue of zodIssues(play.error))
      issues.push({ ...issue, path: issue.path === "(root)" ? `plays[${i}]` : `plays[${i}].${issue.path}` });
    return undefined;
  });
  const ids = envelope.data.plays.map((raw) =>
    raw && typeof raw === "object" && "id" in raw && typeof raw.id === "string" ? raw.id : undefined,
  );
  checkPlaybook(plays, ids, catalog, (path, message) => issues.push({ path, message }));
  if (issues.length > 0) return { ok: false, issues: byPlay(issues) };
  const playbook: Playbook = { ...envelope.data, plays: plays as Play[] };
  return { ok: true, playbook };
}

/** The published JSON Schema of the playbook file, generated from the one zod definition. */
export function playbookJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(PlaybookDocument, { io: "input", target: "draft-2020-12" }),
    $id: "https://uptier.dev/schemas/playbook.schema.json",
    title: "Uptier playbook",
  };
}

/** Issues in the order of the plays they concern (the document's own first), each play's in order found. */
function byPlay(issues: readonly PlaybookIssue[]): PlaybookIssue[] {
  const play = (path: string) => Number(/^plays\[(\d+)\]/.exec(path)?.[1] ?? -1);
  return issues
    .map((issue, order) => ({ issue, order, play: play(issue.path) }))
    .sort((a, b) => a.play - b.play || a.order - b.order)
    .map((x) => x.issue);
}
