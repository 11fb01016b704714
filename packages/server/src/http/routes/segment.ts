import { EventsBatchResponse } from "@uptier/core";
import { NoQuery, SegmentBatch, SegmentGroup, SegmentIdentify, SegmentTrack } from "@uptier/core/api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodType } from "zod";
import type { MeteringState } from "../../services/metering/metering-state.ts";
import { ingestSegment } from "../../services/metering/segment.ts";
import { skipCatchUp } from "../plugins/read-your-writes.ts";
import { retryingWrites } from "../retry.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

const CALLS: Record<"track" | "identify" | "group", ZodType> = {
  track: SegmentTrack,
  identify: SegmentIdentify,
  group: SegmentGroup,
};

/**
 * Segment-compatible endpoints: point a Segment HTTP destination (or any analytics-node client with
 * its host set to Uptier) here. Authenticate with HTTP Basic, the secret key as the user name.
 */
export function segmentRoutes(app: FastifyInstance, ctx: RouteContext, state: MeteringState) {
  const r = typed(app);
  const handle = async (
    request: FastifyRequest,
    reply: FastifyReply,
    messages: { message: unknown; type: string | undefined }[],
    context: Record<string, unknown> | undefined,
  ) => {
    // The accounts these events touch are invalidated below: no outbox poll is needed after it.
    skipCatchUp(request);
    let touched: ReadonlySet<string> = new Set();
    const sent = await retryingWrites(() =>
      respondIdempotent(ctx, request, reply, async (tx) => {
        const outcome = await ingestSegment(tx, state, messages, context, ctx.clock());
        touched = outcome.touched;
        return { status: 200, body: outcome.response };
      }),
    );
    state.invalidate(touched, "usage");
    return sent;
  };
  for (const [call, schema] of Object.entries(CALLS))
    r.post(
      `/v1/segment/${call}`,
      {
        schema: {
          tags: ["segment"],
          summary: `Segment ${call} call`,
          body: schema,
          querystring: NoQuery,
          response: { 200: EventsBatchResponse },
        },
      },
      async (request, reply) => {
        await state.catalog();
        return handle(request, reply, [{ message: request.body, type: call }], undefined);
      },
    );
  r.post(
    "/v1/segment/batch",
    {
      schema: {
        tags: ["segment"],
        summary: "Segment batch call: track, identify and group messages, each answered on its own",
        body: SegmentBatch,
        querystring: NoQuery,
        response: { 200: EventsBatchResponse },
      },
      config: { itemsJudgedOneByOne: "batch" },
    },
    async (request, reply) => {
      await state.catalog();
      const body = request.body as { batch: unknown[]; context?: Record<string, unknown> };
      return handle(
        request,
        reply,
        body.batch.map((message) => ({
          message,
          type:
            typeof (message as { type?: unknown })?.type === "string"
              ? (message as { type: string }).type
              : undefined,
        })),
        body.context,
      );
    },
  );
}
