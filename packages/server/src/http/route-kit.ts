import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Executor, Tx } from "../db/client.ts";
import type { AppContext, Clock } from "../services/context.ts";

export { respondClaimed, respondIdempotent } from "./plugins/idempotency.ts";

/** A route hands these to services; it never queries the database itself. */
export type { Clock, Executor, Tx };
/** A route's context is the services' (app.ts builds one). */
export type RouteContext = AppContext;

export type ZodApp = ReturnType<FastifyInstance["withTypeProvider"]> & FastifyInstance;

export function typed(app: FastifyInstance) {
  return app.withTypeProvider<ZodTypeProvider>();
}
