import { NoQuery } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { findJsonFlaw, type JsonFlaw } from "../../lib/storable-json.ts";
import { ApiError } from "../problem.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** a top-level body field whose array items the route judges one by one (a batch's events) */
    itemsJudgedOneByOne?: string;
    /** set when the route is registered: `{}` is a valid body for it, so no body at all is `{}` */
    absentBodyIsEmpty?: boolean;
  }
}

/** Whether a route's body schema (zod) accepts `{}`: every field optional, or none at all. */
function acceptsEmptyBody(body: unknown): boolean {
  const schema = body as { safeParse?: (value: unknown) => { success: boolean } } | undefined;
  return typeof schema?.safeParse === "function" && schema.safeParse({}).success;
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
 *
 * A request with no body at all (no content type, nothing sent), as HTTP clients send a bodiless
 * POST, is taken as `{}` on a route whose body may be `{}` (a cancel, a confirm): there it means the
 * same. Elsewhere it is still refused, naming the body; a body sent as JSON must be JSON.
 */
export function guardInput(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    if (route.schema?.querystring === undefined) route.schema = { ...route.schema, querystring: NoQuery };
    if (route.schema?.body !== undefined && acceptsEmptyBody(route.schema.body))
      route.config = { ...route.config, absentBodyIsEmpty: true };
  });
  app.addHook("preValidation", (request, _reply, done) => {
    if (
      request.body == null &&
      request.headers["content-type"] === undefined &&
      request.routeOptions.config.absentBodyIsEmpty
    )
      request.body = {};
    const flaw =
      findJsonFlaw(request.params, { prefix: "params" }) ??
      findJsonFlaw(request.query, { prefix: "querystring" }) ??
      findJsonFlaw(request.body, { itemsJudgedOneByOne: request.routeOptions.config.itemsJudgedOneByOne });
    done(flaw ? flawProblem(flaw) : undefined);
  });
}
