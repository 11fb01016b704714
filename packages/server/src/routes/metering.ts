import type { FastifyInstance, FastifyReply } from "fastify";
import type { RouteContext } from "../http/route-kit.ts";
import { type MeteringOptions, MeteringState } from "../services/metering-state.ts";
import { checkRoutes } from "./check.ts";
import { entitlementRoutes } from "./entitlements.ts";
import { eventRoutes } from "./events.ts";
import { segmentRoutes } from "./segment.ts";
import { usageRoutes } from "./usage.ts";

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
  // A committed change (a plan change, a cancellation, a checkout) is visible to the very next check.
  app.addHook("onSend", async (request, reply) => {
    if (request.method !== "GET" && request.method !== "HEAD" && reply.statusCode < 400)
      await state.catchUp();
  });
  eventRoutes(app, ctx, state);
  segmentRoutes(app, ctx, state);
  checkRoutes(app, ctx, state);
  entitlementRoutes(app, ctx, state);
  usageRoutes(app, ctx, state);
}

const DEADLOCK = new Set(["40P01", "40001"]);

function isRetryable(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause)
    if (DEADLOCK.has((e as { code?: string }).code ?? "")) return true;
  return false;
}

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
