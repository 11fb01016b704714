import { EventsBatchResponse } from "@uptier/core";
import { NoQuery, RecordEventsBody } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { ingestEvents, prepareIngest, receiveEvent } from "../../services/metering/ingest.ts";
import type { MeteringState } from "../../services/metering/metering-state.ts";
import { skipCatchUp } from "../plugins/read-your-writes.ts";
import { retryingWrites } from "../retry.ts";
import { type Executor, type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

export function eventRoutes(app: FastifyInstance, ctx: RouteContext, state: MeteringState) {
  const r = typed(app);
  r.post(
    "/v1/events",
    {
      schema: {
        tags: ["metering"],
        summary: "Record usage events: one, or a batch of up to 1,000, each answered on its own",
        description:
          "Idempotent by event id (a duplicate is counted once and reported as `duplicate`). Events up to 7 days late (by default; the server's UPTIER_LATE_EVENT_WINDOW) count in the period they belong to. Each event is `accepted`, `duplicate` or `rejected` with a code; one bad event never rejects the others.",
        body: RecordEventsBody,
        querystring: NoQuery,
        response: { 200: EventsBatchResponse },
      },
      config: { itemsJudgedOneByOne: "events" },
    },
    async (request, reply) => {
      // The accounts these events touch are invalidated below: no outbox poll is needed after it.
      skipCatchUp(request);
      const body = request.body as { events?: unknown[] };
      const raws = Array.isArray(body.events) ? body.events : [request.body];
      const incoming = raws.map(receiveEvent);
      await prepareIngest(state, incoming);
      let touched: ReadonlySet<string> = new Set();
      const ingest = async (db: Executor) => {
        const outcome = await ingestEvents(db, state, incoming, ctx.clock());
        touched = outcome.touched;
        return { status: 200 as const, body: outcome.response };
      };
      // Without an Idempotency-Key (events are idempotent by id already) a batch is one atomic
      // statement: no transaction, no round trips for BEGIN and COMMIT.
      const sent = await retryingWrites(async () => {
        if (request.headers["idempotency-key"] !== undefined)
          return respondIdempotent(ctx, request, reply, ingest);
        const { status, body } = await ingest(ctx.db);
        return reply.code(status).send(body);
      });
      state.invalidate(touched, "usage");
      return sent;
    },
  );
}
