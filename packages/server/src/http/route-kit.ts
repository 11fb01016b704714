import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Db, Tx } from "../db/client.ts";
import { type OperationResult, runIdempotent } from "./idempotency.ts";

export type Clock = () => Date;

export interface RouteContext {
  readonly db: Db;
  readonly clock: Clock;
}

export type ZodApp = ReturnType<FastifyInstance["withTypeProvider"]> & FastifyInstance;

export function typed(app: FastifyInstance) {
  return app.withTypeProvider<ZodTypeProvider>();
}

/** Sends an operation's result, marking a replayed idempotent response as such (as Stripe does). */
export async function respondIdempotent(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  operation: (tx: Tx) => Promise<OperationResult>,
) {
  const result = await runIdempotent(ctx.db, request, operation);
  if (result.replayed) reply.header("idempotent-replayed", "true");
  return reply.code(result.status).send(result.body);
}
