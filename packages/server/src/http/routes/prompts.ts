import {
  ExplainPromptQuery,
  IdParams,
  ListPromptsQuery,
  PromptEventInput,
  PromptExplanationResponse,
  PromptListResponse,
  PromptStateResponse,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import type { PlaybookSource } from "../../services/plays/evaluate.ts";
import { recordPromptEvent } from "../../services/plays/prompts.ts";
import { explainPlay } from "../../services/plays/prompts-explain.ts";
import { listPrompts } from "../../services/plays/prompts-render.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

const TAGS = ["prompts"];

/** The in-app prompts of plays (docs/plays.md, "In the app: prompts"). */
export function promptRoutes(app: FastifyInstance, ctx: RouteContext, playbook: PlaybookSource) {
  const r = typed(app);
  r.get(
    "/v1/prompts",
    {
      schema: {
        tags: TAGS,
        summary: "The prompt a placement shows a user now, priced by a quote made now",
        description:
          "At most one prompt per placement: cadence (caps across plays, snooze, never again, escalation) picks it. Its copy is rendered from a quote made now for the offered change; accepting is one checkout of that quote. A member gets `action: ask_admin`.",
        querystring: ListPromptsQuery,
        response: { 200: PromptListResponse },
      },
    },
    (request) => listPrompts(ctx.db, playbook, request.query, ctx.clock()),
  );
  r.get(
    "/v1/prompts/explain",
    {
      schema: {
        tags: TAGS,
        summary: "Why a play's prompt shows or not for a user now, stage by stage",
        querystring: ExplainPromptQuery,
        response: { 200: PromptExplanationResponse },
      },
    },
    (request) => explainPlay(ctx.db, playbook, request.query, ctx.clock()),
  );
  r.post(
    "/v1/prompts/:id/events",
    {
      schema: {
        tags: TAGS,
        summary: "Record what the user did with a prompt: shown, clicked, dismissed, snoozed, never_again",
        params: IdParams,
        body: PromptEventInput,
        response: { 200: PromptStateResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => {
        const { type, until, account } = request.body;
        const event = type === "snoozed" ? { type, ...(until ? { until: new Date(until) } : {}) } : { type };
        return {
          status: 200,
          body: await recordPromptEvent(
            tx,
            await playbook(tx),
            { account, id: request.params.id, event },
            ctx.clock(),
          ),
        };
      }),
  );
}
