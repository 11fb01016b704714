import { type CatalogIssue, validateCatalog } from "@uptier/core";
import { CatalogBody, NoQuery } from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { applyCatalog, currentCatalog } from "../../services/catalog/apply.ts";
import { ApiError } from "../problem.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

function invalidCatalog(issues: readonly CatalogIssue[]) {
  const first = issues[0];
  return new ApiError(422, "invalid_catalog", `The catalog is invalid — ${first?.path}: ${first?.message}.`, {
    errors: issues.map((i) => ({ param: i.path, message: i.message })),
  });
}

export function catalogRoutes(app: FastifyInstance, ctx: RouteContext) {
  const r = typed(app);
  r.get(
    "/v1/catalog",
    { schema: { tags: ["catalog"], summary: "The catalog in force", querystring: NoQuery } },
    async () => {
      const current = await currentCatalog(ctx.db);
      if (!current) throw new ApiError(404, "catalog_not_applied", "No catalog has been applied yet.");
      return { object: "catalog", version: current.version, ...current.catalog };
    },
  );
  r.post(
    "/v1/catalog/validate",
    { schema: { tags: ["catalog"], summary: "Validate a catalog without applying it", body: CatalogBody } },
    async (request) => {
      const result = validateCatalog(request.body);
      return result.ok ? { valid: true, issues: [] } : { valid: false, issues: result.issues };
    },
  );
  r.post(
    "/v1/catalog",
    {
      schema: {
        tags: ["catalog"],
        summary: "Apply a catalog (versioned; the same catalog twice is a no-op)",
        body: CatalogBody,
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => {
        const result = validateCatalog(request.body);
        if (!result.ok) throw invalidCatalog(result.issues);
        return { status: 200, body: await applyCatalog(tx, result.catalog, ctx.clock()) };
      }),
  );
}
