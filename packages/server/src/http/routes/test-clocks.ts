import {
  AdvanceTestClockInput,
  CreateTestClockInput,
  DeletedTestClockResponse,
  IdParams,
  ListTestClocksQuery,
  listOf,
  NoQuery,
  TestClockResponse,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { billingOf } from "../../services/context.ts";
import type { PlaybookSource } from "../../services/plays/evaluate.ts";
import { BackgroundAdvances, startAdvance } from "../../services/test-clocks/advance.ts";
import {
  createTestClock,
  deleteTestClock,
  getTestClock,
  listTestClocks,
} from "../../services/test-clocks/clocks.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

const TAGS = ["test clocks"];

/**
 * Test clocks (docs/test-clocks.md): accounts created on one live by its time, and advancing it
 * runs their renewals, dunning, scheduled changes and plays. The advance runs after the answer
 * (status `advancing`); the clock is `ready` when everything due is done.
 */
export function testClockRoutes(app: FastifyInstance, ctx: RouteContext, playbook: PlaybookSource) {
  const billing = billingOf(ctx);
  const advances = new BackgroundAdvances({ billing, playbook }, (clock, error) =>
    app.log.error({ err: error, test_clock: clock }, "test clock advance failed; it resumes on the next try"),
  );
  app.addHook("onClose", () => advances.settle());
  const r = typed(app);
  r.post(
    "/v1/test_clocks",
    {
      schema: {
        tags: TAGS,
        summary: "Create a test clock frozen at a time",
        body: CreateTestClockInput,
        response: { 201: TestClockResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await createTestClock(tx, billing.gateways, request.body, ctx.clock()),
      })),
  );
  r.get(
    "/v1/test_clocks",
    {
      schema: {
        tags: TAGS,
        summary: "List test clocks, newest first",
        querystring: ListTestClocksQuery,
        response: { 200: listOf(TestClockResponse) },
      },
    },
    (request) => listTestClocks(ctx.db, request.query),
  );
  r.get(
    "/v1/test_clocks/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Retrieve a test clock (status `ready` once an advance is done)",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: TestClockResponse },
      },
    },
    (request) => getTestClock(ctx.db, request.params.id),
  );
  r.delete(
    "/v1/test_clocks/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Delete a test clock (its accounts stay frozen at its time)",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: DeletedTestClockResponse },
      },
    },
    (request) => ctx.db.transaction((tx) => deleteTestClock(tx, request.params.id, ctx.clock())),
  );
  r.post(
    "/v1/test_clocks/:id/advance",
    {
      schema: {
        tags: TAGS,
        summary: "Advance a test clock: everything due up to `to` runs, as of its time, in order",
        params: IdParams,
        body: AdvanceTestClockInput,
        response: { 200: TestClockResponse },
      },
    },
    async (request, reply) => {
      const answer = await respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await startAdvance(tx, request.params.id, new Date(request.body.to)),
      }));
      // committed: run it (a replay, or a clock already advancing, finds it running or ready)
      if (reply.statusCode === 200) advances.start(request.params.id);
      return answer;
    },
  );
}
