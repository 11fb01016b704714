import { evaluateTrigger, explainPrompt, matchAudience, type PromptDecision, playArm } from "@uptier/core";
import type { Db } from "../../db/client.ts";
import { DomainError } from "../errors.ts";
import type { PlaybookSource } from "./evaluate.ts";
import { accountPrompts, selectForUser } from "./prompts.ts";
import { promptMember } from "./prompts-render.ts";
import { loadAccountState } from "./signals.ts";

/**
 * GET /v1/prompts/explain: why a play's prompt shows or not for one user now, stage by stage
 * (core's explainPrompt). The trigger stage reads the user's latest prompt of the play when there
 * is one (the trigger fired then, in that cycle); otherwise the trigger is asked now.
 */
export async function explainPlay(
  db: Db,
  source: PlaybookSource,
  query: { readonly account: string; readonly user: string; readonly play: string },
  at: Date,
) {
  const member = await promptMember(db, query.account, query.user);
  const playbook = await source(db);
  const play = playbook?.plays.find((p) => p.id === query.play);
  if (!playbook || !play)
    throw new DomainError("resource_not_found", `No play "${query.play}" in the playbook in force.`, {
      param: "play",
    });
  const state = await loadAccountState(db, query.account, playbook, at);
  const prompts = await accountPrompts(db, query.account, at);
  const selection = selectForUser(playbook, prompts, query.user, play.placement, at);
  const mine = selection.decisions
    .filter((d) => d.candidate.play.id === play.id)
    .sort((a, b) => b.candidate.instance.eligibleAt.getTime() - a.candidate.instance.eligibleAt.getTime());
  const decision: PromptDecision | null = mine[0] ?? null;
  const trigger = decision
    ? {
        fired: true,
        cycle: decision.candidate.instance.cycle,
        reason: `fired at ${decision.candidate.instance.eligibleAt.toISOString()}`,
      }
    : evaluateTrigger(play.trigger, state.signals);
  const explanation = explainPrompt({
    play: { id: play.id, enabled: play.enabled },
    trigger,
    audience: matchAudience(play.audience, state.signals, {
      role: member.role === "admin" ? "admin" : "member",
      properties: member.properties as Record<string, unknown>,
    }),
    experiment: playArm(play, query.account),
    cadence: decision,
  });
  return {
    object: "prompt_explanation" as const,
    play: explanation.play,
    shown: explanation.shown,
    decided_by: explanation.decidedBy,
    steps: [...explanation.steps],
  };
}
