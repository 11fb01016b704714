import { NoQuery } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { findJsonFlaw, type JsonFlaw } from "../../lib/storable-json.ts";
import { ApiError } from "../problem.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** a top-level body field whose array items the route judges one by one (a batch's events) */
    itemsJudgedOneByOne?: string;
  }
}

export function flawProblem(flaw: JsonFlaw): ApiError {
  return new ApiError(400, flaw.code, `Invalid request — ${flaw.param}: ${flaw.message}.`, {
    param: flaw.param,
    errors: [{ param: flaw.param, message: flaw.message }],
  });
}

/**
 * The API's edge, for every route at once: path and query parameters and the body are checked for
 * what cannot be stored (lib/storable-json.ts) before the route's schema sees them, and a route that
 * declares no query parameters rejects any, as one that declares some rejects unknown ones.
 */
export function guardInput(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    if (route.schema?.querystring === undefined) route.schema = { ...route.schema, querystring: NoQuery };
  });
  app.addHook("preValidation", (request, _reply, done) => {
    const flaw =
      findJsonFlaw(request.params, { prefix: "params" }) ??
      findJsonFlaw(request.query, { prefix: "querystring" }) ??
      findJsonFlaw(request.body, { itemsJudgedOneByOne: request.routeOptions.config.itemsJudgedOneByOne });
    done(flaw ? flawProblem(flaw) : undefined);
  });
}
