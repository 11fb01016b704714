import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Db } from "../db/client.ts";

export { respondClaimed, respondIdempotent } from "./idempotency.ts";

export type Clock = () => Date;

export interface RouteContext {
  readonly db: Db;
  readonly clock: Clock;
}

export type ZodApp = ReturnType<FastifyInstance["withTypeProvider"]> & FastifyInstance;

export function typed(app: FastifyInstance) {
  return app.withTypeProvider<ZodTypeProvider>();
}
