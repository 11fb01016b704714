import { z } from "zod";
import { PROMPT_STATES } from "../plays/prompt-state.ts";
import { Instant } from "./fields.ts";
import { QuoteResponse } from "./responses.ts";

/** What the prompt routes answer (docs/plays.md, "In the app: prompts"). */

export const PromptResponse = z
  .object({
    id: z.string(),
    object: z.literal("prompt"),
    account: z.string(),
    user: z.string(),
    play: z.string(),
    cycle: z.string(),
    placement: z.string(),
    state: z.enum(PROMPT_STATES as [string, ...string[]]),
    variant: z.string().nullable(),
    action: z
      .enum(["buy", "ask_admin"])
      .describe("buy: checkout the quote; ask_admin: a member asks an admin to approve it"),
    title: z.string().describe("HTML-escaped text"),
    body: z.string().describe("HTML-escaped text"),
    cta: z.string().nullable(),
    quote: QuoteResponse.nullable().describe(
      "The offered change priced now: accepting the prompt is one checkout of this quote",
    ),
    eligible_at: Instant,
    expires_at: Instant.nullable(),
    shown_at: Instant.nullable(),
    clicked_at: Instant.nullable(),
    dismissed_at: Instant.nullable(),
    snoozed_until: Instant.nullable(),
  })
  .meta({ id: "Prompt" });

export const PromptListResponse = z
  .object({ object: z.literal("list"), data: z.array(PromptResponse) })
  .meta({ id: "PromptList" });

/** A prompt's state after an event (the copy is what GET /v1/prompts last rendered). */
export const PromptStateResponse = z
  .object({
    id: z.string(),
    object: z.literal("prompt"),
    play: z.string(),
    state: z.enum(PROMPT_STATES as [string, ...string[]]),
    shown_at: Instant.nullable(),
    clicked_at: Instant.nullable(),
    dismissed_at: Instant.nullable(),
    snoozed_until: Instant.nullable(),
  })
  .meta({ id: "PromptState" });

const ExplainStepResponse = z.object({
  stage: z.enum(["play", "trigger", "audience", "experiment", "cadence"]),
  passed: z.boolean(),
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number()])),
});

export const PromptExplanationResponse = z
  .object({
    object: z.literal("prompt_explanation"),
    play: z.string(),
    shown: z.boolean(),
    decided_by: ExplainStepResponse.describe("The first stage that said no, or the last"),
    steps: z.array(ExplainStepResponse),
  })
  .meta({ id: "PromptExplanation" });
