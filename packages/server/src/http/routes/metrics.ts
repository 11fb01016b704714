import {
  MetricsSeriesQuery,
  MovementsResponse,
  MrrSeriesResponse,
  RetentionQuery,
  RetentionResponse,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { movementSeries, mrrSeries, retention } from "../../services/metrics/reports.ts";
import { type RouteContext, typed } from "../route-kit.ts";

/** The revenue metrics, read-only (docs/metrics.md, "API"). Handlers are thin. */
export function metricsRoutes(app: FastifyInstance, ctx: RouteContext) {
  const r = typed(app);
  r.get(
    "/v1/metrics/mrr",
    {
      schema: {
        tags: ["metrics"],
        summary: "MRR at the close of each day, week or month, with customers, ARPA and the annual mix",
        querystring: MetricsSeriesQuery,
        response: { 200: MrrSeriesResponse },
      },
    },
    (request) => mrrSeries(ctx.db, request.query, ctx.clock()),
  );
  r.get(
    "/v1/metrics/movements",
    {
      schema: {
        tags: ["metrics"],
        summary:
          "MRR movements per bucket, netted per customer: new, expansion, contraction, churn, reactivation",
        querystring: MetricsSeriesQuery,
        response: { 200: MovementsResponse },
      },
    },
    (request) => movementSeries(ctx.db, request.query, ctx.clock()),
  );
  r.get(
    "/v1/metrics/retention",
    {
      schema: {
        tags: ["metrics"],
        summary: "NRR and GRR of the start cohort over a window (trailing twelve months by default)",
        querystring: RetentionQuery,
        response: { 200: RetentionResponse },
      },
    },
    (request) => retention(ctx.db, request.query, ctx.clock()),
  );
}
