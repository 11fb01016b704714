import { CheckResult } from "@uptier/core";
import { CheckInput, NoQuery } from "@uptier/core/api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { checkAndRecord, checkFromCache, resolveAccount } from "../../services/metering/entitlements.ts";
import type { MeteringState } from "../../services/metering/metering-state.ts";
import { compiledSerializer } from "../plugins/fast-serializer.ts";
import { skipCatchUp } from "../plugins/read-your-writes.ts";
import { retryingWrites } from "../retry.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

export function checkRoutes(app: FastifyInstance, ctx: RouteContext, state: MeteringState) {
  const r = typed(app);
  r.post(
    "/v1/check",
    {
      schema: {
        tags: ["entitlements"],
        summary: "Check whether an account may use a feature (and optionally record the usage)",
        description:
          "Answered from the server's in-memory entitlement cache. A denied check is recorded as an `entitlement.denied` domain event. With `record: true` the usage is added atomically when allowed; send an Idempotency-Key to make that retry-safe.",
        body: CheckInput,
        querystring: NoQuery,
        response: { 200: CheckResult },
      },
      // The hot path: the response is serialized by fast-json-stringify from the same zod schema.
      serializerCompiler: compiledSerializer,
    },
    (request, reply) => {
      const input = request.body;
      // Without `record` a check changes no usage or plan (a denial is logged, but changes nothing
      // cached): the read-your-writes poll after it would be wasted.
      if (!input.record) skipCatchUp(request);
      // A check that records nothing is a read (POST only carries the body): no transaction, no key.
      // Answered synchronously when everything it needs is cached.
      if (!input.record && request.headers["idempotency-key"] === undefined)
        return checkFromCache(state, input, ctx.clock());
      return checkInTransaction(ctx, state, request, reply, input);
    },
  );
}

async function checkInTransaction(
  ctx: RouteContext,
  state: MeteringState,
  request: FastifyRequest,
  reply: FastifyReply,
  input: CheckInput,
) {
  // Warm the plan part of the cache outside the transaction; the usage is read under a lock inside.
  await state.entitlements(await resolveAccount(state, ctx.db, input.account));
  let touched: string | null = null;
  const sent = await retryingWrites(() =>
    respondIdempotent(ctx, request, reply, async (tx) => {
      const outcome = input.record
        ? await checkAndRecord(tx, state, input, ctx.clock())
        : { result: await checkFromCache(state, input, ctx.clock(), tx), touched: null };
      touched = outcome.touched;
      return { status: 200, body: outcome.result };
    }),
  );
  if (touched) state.invalidate([touched], "usage");
  return sent;
}
