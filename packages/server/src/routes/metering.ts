import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RouteContext } from "../http/route-kit.ts";
import { anyCause, sqlState } from "../lib/error-causes.ts";
import { type MeteringOptions, MeteringState } from "../services/metering-state.ts";
import { checkRoutes } from "./check.ts";
import { entitlementRoutes } from "./entitlements.ts";
import { eventRoutes } from "./events.ts";
import { segmentRoutes } from "./segment.ts";
import { usageRoutes } from "./usage.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** set by skipCatchUp */
    uptierNoCatchUp: boolean;
  }
}

/**
 * Marks a non-GET request after which the cache needs no poll of the domain-event log: it changed
 * nothing an entitlement is computed from (a check without `record`), or it invalidated what it
 * changed itself (usage events).
 */
export function skipCatchUp(request: FastifyRequest): void {
  request.uptierNoCatchUp = true;
}

/**
 * Metering and entitlements: usage events (and Segment's format), checks, entitlements, usage and
 * the SDK's invalidation stream, sharing one in-memory entitlement cache kept fresh from the outbox.
 */
export async function meteringRoutes(
  app: FastifyInstance,
  ctx: RouteContext,
  options?: Partial<MeteringOptions>,
) {
  const state = new MeteringState(ctx.db, ctx.clock, options);
  await state.start();
  app.addHook("onClose", () => state.close());
  // Declared, so every request is built with the flag: setting it then keeps the request's shape.
  app.decorateRequest("uptierNoCatchUp", false);
  // A committed change (a plan change, a cancellation, a checkout) is visible to the very next check.
  // A request marked by skipCatchUp has nothing to catch up on: no poll for it.
  app.addHook("onSend", (request, reply, payload, done) => {
    if (
      request.method === "GET" ||
      request.method === "HEAD" ||
      reply.statusCode >= 400 ||
      request.uptierNoCatchUp
    ) {
      done(null, payload);
      return;
    }
    // The write has committed and the payload reports it: a failed catch-up must not turn it into
    // an error, which tells the client it failed — retried without an Idempotency-Key, it would be
    // done twice (a second subscription, another seat). Only read-your-writes is lost, for a
    // moment: a failed read of the log advances nothing, so the next regular poll re-reads the
    // events and invalidates them, as every other node learns of any write. Until then this node answers
    // from its cache as it stood. Dropping the whole cache instead would send every check to a
    // database that is failing right now, and deny them, rather than answer from memory.
    state.catchUp().then(
      () => done(null, payload),
      (error: unknown) => {
        request.log.warn(
          { err: error },
          "read-your-writes catch-up failed after a committed write; the next poll of the domain-event log catches up",
        );
        done(null, payload);
      },
    );
  });
  eventRoutes(app, ctx, state);
  segmentRoutes(app, ctx, state);
  checkRoutes(app, ctx, state);
  entitlementRoutes(app, ctx, state);
  usageRoutes(app, ctx, state);
  return state;
}

const DEADLOCK = new Set(["40P01", "40001"]);

const isRetryable = (error: unknown) => anyCause(error, (e) => DEADLOCK.has(sqlState(e) ?? ""));

/** Runs a write again when PostgreSQL aborted it for a deadlock or a serialization failure. */
export async function retryingWrites(run: () => Promise<FastifyReply>): Promise<FastifyReply> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= 4 || !isRetryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 10));
    }
  }
}
