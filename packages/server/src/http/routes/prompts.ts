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
import type { MeteringState } from "../../services/metering/metering-state.ts";
import type { PlaybookSource } from "../../services/plays/evaluate.ts";
import { recordPromptEvent } from "../../services/plays/prompts.ts";
import { explainPlay } from "../../services/plays/prompts-explain.ts";
import { promptReads } from "../../services/plays/prompts-numbers.ts";
import { listPrompts } from "../../services/plays/prompts-render.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

const TAGS = ["prompts"];

/** The in-app prompts of plays (docs/plays.md, "In the app: prompts"). */
export function promptRoutes(
  app: FastifyInstance,
  ctx: RouteContext,
  playbook: PlaybookSource,
  metering: MeteringState,
) {
  // the account's numbers are read from memory, kept fresh by the domain-event log
  const reads = promptReads(ctx.db, metering);
  const r = typed(app);
  r.get(
    "/v1/prompts",
    {
      schema: {
        tags: TAGS,
        summary: "The prompt a placement shows a user now, priced by the quote it offers",
        description:
          "At most one prompt per placement: cadence (caps across plays, snooze, never again, escalation) picks it. Its copy is rendered from the quote it offers for the offered change (the one it showed while the checkout would still take it, else one made now); accepting is one checkout of that quote. A member gets `action: ask_admin`.",
        querystring: ListPromptsQuery,
        response: { 200: PromptListResponse },
      },
    },
    (request) => listPrompts(ctx.db, playbook, reads, request.query, ctx.clock()),
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
