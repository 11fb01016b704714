import {
  PLAYBOOK_TEXT_TYPES,
  PlaybookApplyResponse,
  PlaybookBody,
  PlaybookResponse,
  PlaybookValidationResponse,
} from "@uptier/core/api";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  applyPlaybook,
  checkPlaybook,
  currentPlaybook,
  type PlaybookInput,
  type PlaybookVersion,
} from "../../services/plays/playbook.ts";
import { ApiError } from "../problem.ts";
import { type RouteContext, typed } from "../route-kit.ts";

const CONSUMES = ["application/json", ...PLAYBOOK_TEXT_TYPES];

/** The YAML text when it was sent as text; otherwise the JSON document (whatever its shape). */
function inputOf(request: Pick<FastifyRequest, "headers" | "body">): PlaybookInput {
  const type = String(request.headers["content-type"] ?? "")
    .split(";")[0]
    ?.trim()
    .toLowerCase();
  const asText = (PLAYBOOK_TEXT_TYPES as readonly string[]).includes(type ?? "");
  if (typeof request.body !== "string") return { document: request.body };
  if (asText) return { text: request.body, file: "(body)" };
  // the schema takes text for YAML's media types; as JSON, a playbook is an object
  throw new ApiError(
    400,
    "invalid_request",
    "Invalid request — (body): a playbook sent as JSON is an object; send its YAML text as application/yaml.",
    { param: "(body)", errors: [{ param: "(body)", message: "expected an object" }] },
  );
}

const view = (v: PlaybookVersion) => ({
  object: "playbook" as const,
  version: v.version,
  catalog_version: v.catalogVersion,
  applied_at: v.appliedAt.toISOString(),
  playbook: v.playbook as unknown as Record<string, unknown>,
  source: v.source,
});

/**
 * The playbook as code over HTTP: read the version in force, apply a new one (JSON, or YAML text
 * whose issues carry line and column), or validate one without applying it.
 */
export function playbookRoutes(app: FastifyInstance, ctx: RouteContext) {
  // YAML text is read only by these routes: elsewhere a YAML body stays an unsupported media type
  app.register(async (scope) => {
    scope.removeContentTypeParser("text/plain");
    scope.addContentTypeParser([...PLAYBOOK_TEXT_TYPES], { parseAs: "string" }, (_request, body, done) =>
      done(null, body),
    );
    const r = typed(scope);
    r.get(
      "/v1/playbook",
      { schema: { tags: ["plays"], summary: "The playbook in force", response: { 200: PlaybookResponse } } },
      async () => {
        const current = await currentPlaybook(ctx.db);
        if (!current) throw new ApiError(404, "playbook_not_found", "No playbook has been applied yet.");
        return view(current);
      },
    );
    r.put(
      "/v1/playbook",
      {
        schema: {
          tags: ["plays"],
          summary:
            "Apply a playbook (versioned; refused whole with every issue; the same playbook twice is a no-op)",
          consumes: CONSUMES,
          body: PlaybookBody,
          response: { 200: PlaybookApplyResponse },
        },
      },
      async (request) => {
        const applied = await ctx.db.transaction((tx) => applyPlaybook(tx, inputOf(request), ctx.clock()));
        return { ...view(applied), changed: applied.changed };
      },
    );
    r.post(
      "/v1/playbook/validate",
      {
        schema: {
          tags: ["plays"],
          summary: "Validate a playbook against the catalog in force without applying it",
          consumes: CONSUMES,
          body: PlaybookBody,
          response: { 200: PlaybookValidationResponse },
        },
      },
      async (request) => {
        const check = await checkPlaybook(ctx.db, inputOf(request));
        return check.ok ? { valid: true, issues: [] } : { valid: false, issues: [...check.issues] };
      },
    );
  });
}
