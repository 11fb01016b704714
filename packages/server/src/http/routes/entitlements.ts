import { EntitlementsView } from "@uptier/core";
import { EntitlementsQuery, IdParams, NoQuery } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { entitlementsOf } from "../../services/metering/entitlements.ts";
import type { Invalidation, MeteringState } from "../../services/metering/metering-state.ts";
import { watchRevocation } from "../plugins/auth.ts";
import { type RouteContext, typed } from "../route-kit.ts";

const HEARTBEAT_MS = 15_000;

export function entitlementRoutes(app: FastifyInstance, ctx: RouteContext, state: MeteringState) {
  const r = typed(app);
  r.get(
    "/v1/accounts/:id/entitlements",
    {
      schema: {
        tags: ["entitlements"],
        summary: "Every feature's entitlement for an account: grant, limit, usage, reset",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: EntitlementsView },
      },
    },
    (request) => entitlementsOf(state, request.params.id),
  );
  r.get(
    "/v1/entitlements",
    {
      schema: {
        tags: ["entitlements"],
        summary: "Entitlements by account id or by your external id (what the SDK caches)",
        querystring: EntitlementsQuery,
        response: { 200: EntitlementsView },
      },
    },
    (request) => entitlementsOf(state, request.query.account),
  );

  // The SDK's push channel: Server-Sent Events naming the accounts whose entitlements changed.
  const streams = new Set<{ end(): void }>();
  app.addHook("preClose", async () => {
    for (const s of streams) s.end();
  });
  r.get(
    "/v1/entitlements/stream",
    {
      schema: {
        tags: ["entitlements"],
        summary:
          "Server-Sent Events: `invalidate` with the accounts whose entitlements changed, `reset` for all",
        querystring: NoQuery,
      },
    },
    (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.write(`retry: 1000\nevent: ready\ndata: {}\n\n`);
      const send = (change: Invalidation) => {
        if ("all" in change) res.write("event: reset\ndata: {}\n\n");
        else res.write(`event: invalidate\ndata: ${JSON.stringify({ accounts: change.accounts })}\n\n`);
      };
      const unsubscribe = state.subscribe(send);
      const heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
      heartbeat.unref();
      const stream = { end: () => res.end() };
      streams.add(stream);
      // authenticated once, when it opened: ended when its key is revoked, as a request would be refused
      const unwatch = watchRevocation(ctx.db, request.caller, stream.end);
      request.raw.on("close", () => {
        clearInterval(heartbeat);
        unsubscribe();
        unwatch();
        streams.delete(stream);
      });
    },
  );
}
