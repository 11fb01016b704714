import { Entitlement, UsageView } from "@uptier/core";
import { FeatureParams, GaugeInput, IdParams, NoQuery } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { resolveAccount, setGauge, usageReport } from "../../services/metering/entitlements.ts";
import type { MeteringState } from "../../services/metering/metering-state.ts";
import { type RouteContext, typed } from "../route-kit.ts";

export function usageRoutes(app: FastifyInstance, ctx: RouteContext, state: MeteringState) {
  const r = typed(app);
  r.get(
    "/v1/accounts/:id/usage",
    {
      schema: {
        tags: ["metering"],
        summary:
          "Usage in the current period: per feature used / limit / ratio / resets-at, and daily history",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: UsageView },
      },
    },
    (request) => usageReport(state, request.params.id, ctx.clock()),
  );
  r.put(
    "/v1/accounts/:id/usage/:feature",
    {
      schema: {
        tags: ["metering"],
        summary: "Report the current amount of a limit feature (a gauge, e.g. projects in use)",
        params: FeatureParams,
        body: GaugeInput,
        response: { 200: Entitlement },
      },
    },
    async (request) => {
      const { id, feature } = request.params;
      await state.entitlements(await resolveAccount(state, ctx.db, id));
      const result = await ctx.db.transaction((tx) =>
        setGauge(tx, state, id, feature, request.body.value, ctx.clock()),
      );
      state.invalidate([id], "usage");
      return result;
    },
  );
}
