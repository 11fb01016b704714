import { z } from "zod";
import { AccountId } from "./common.ts";

/** Prompts: a play's offer to one user of an account (docs/plays.md, "In the app: prompts"). */

const UserId = z.string().min(1).max(255).describe("The user's id in your product (the member's user_id)");
const PlayId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, "must be a play id (a slug)");

export const ListPromptsQuery = z
  .object({
    account: AccountId,
    user: UserId,
    placement: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z][a-z0-9_-]*$/, "must be lower-case letters, digits, _ or -")
      .default("banner")
      .describe("Where in the app the prompt would show (default banner)"),
  })
  .strict();

export const PROMPT_EVENT_TYPES = ["shown", "clicked", "dismissed", "snoozed", "never_again"] as const;

export const PromptEventInput = z
  .object({
    account: AccountId.describe("The account the prompt belongs to"),
    type: z.enum(PROMPT_EVENT_TYPES),
    until: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("snoozed only: hide it until this instant (default: the playbook's snooze days)"),
  })
  .strict();

export const ExplainPromptQuery = z.object({ account: AccountId, user: UserId, play: PlayId }).strict();
