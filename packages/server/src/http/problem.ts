import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { ZodError } from "zod";
import { DatabaseUnavailableError, isConnectionLost } from "../db/client.ts";
import { anyCause } from "../lib/error-causes.ts";
import { type DocumentIssue, DomainError } from "../services/errors.ts";

/**
 * Errors are RFC 9457 problem documents with a stable machine `code` (Stripe's habit: a `code`
 * and the offending `param`), so a client can branch on `code` and show `detail` to a person.
 */
export interface ProblemField {
  readonly param: string;
  readonly message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: {
      param?: string;
      errors?: readonly ProblemField[];
      issues?: readonly DocumentIssue[];
      /** seconds, sent as Retry-After: the request may be retried as it is after that */
      retryAfter?: number;
    } = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) =>
  new ApiError(404, "resource_not_found", `No ${what} with id "${id}".`, { param: "id" });

/**
 * The one table from a domain refusal's code to its HTTP status. A code not listed is a conflict
 * with the state of things (409): a checkout given back answers its own failure code that way.
 */
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  // 400: the request itself is malformed
  actor_required: 400,
  card_number_not_accepted: 400,
  currency_required: 400,
  duplicate_add_on: 400,
  duplicate_credit_note_line: 400,
  invalid_billing_cycle_anchor: 400,
  invalid_cursor: 400,
  invalid_range: 400,
  invalid_request: 400,
  range_too_large: 400,
  // 402: the payment did not go through
  payment_declined: 402,
  payment_processing: 402,
  payment_requires_action: 402,
  // 403: only an active admin may buy
  admin_approval_required: 403,
  admin_not_active: 403,
  // 404
  playbook_not_found: 404,
  resource_not_found: 404,
  unknown_unsubscribe_token: 404,
  unknown_feature: 404,
  // 409: the prompt's state does not allow the move (core's transitionPrompt)
  prompt_converted: 409,
  prompt_dismissed: 409,
  prompt_expired: 409,
  prompt_never_again: 409,
  prompt_not_shown: 409,
  prompt_snoozed: 409,
  // 413
  batch_too_large: 413,
  // 422: well-formed, but not something the catalog or the rules allow
  add_on_interval_not_available: 422,
  add_on_not_available: 422,
  add_on_quantity_invalid: 422,
  add_on_requires: 422,
  credit_note_empty: 422,
  credit_note_exceeds_line: 422,
  credit_note_exceeds_paid: 422,
  credit_note_exceeds_refundable: 422,
  currency_mismatch: 422,
  gateway_not_configured: 422,
  interval_not_available: 422,
  invalid_email: 422,
  invalid_payment_method: 422,
  not_a_limit_feature: 422,
  playbook_invalid: 422,
  catalog_breaks_playbook: 409,
  quote_mismatch: 422,
  record_not_supported: 422,
  seat_quantity_above_plan_maximum: 422,
  seat_quantity_below_usage: 422,
  snooze_not_in_future: 422,
  test_clock_backwards: 422,
  test_clock_live_gateway: 422,
  test_clock_requires_sandbox: 422,
  too_many_add_ons: 422,
  too_many_properties: 422,
  unknown_add_on: 422,
  unknown_invoice_line: 422,
  unknown_plan: 422,
  webhook_url_not_https: 422,
};

export const statusOfCode = (code: string): number => STATUS_OF_CODE[code] ?? 409;

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** How long a client is asked to wait before retrying a request that found no database connection. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

export const databaseUnavailable = () =>
  new ApiError(
    503,
    "database_unavailable",
    "No database connection came free in time. Retry the request shortly (with the same Idempotency-Key if it changes anything).",
    { retryAfter: DATABASE_RETRY_AFTER_SECONDS },
  );

export const databaseConnectionLost = () =>
  new ApiError(
    503,
    "database_unavailable",
    "The connection to the database was lost while the request ran. Retry it shortly; if it changes anything, retry with the same Idempotency-Key, which makes it happen once whether or not the lost attempt took effect.",
    { retryAfter: DATABASE_RETRY_AFTER_SECONDS },
  );

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The RFC 9457 document of a problem, as sent. */
export function problemDocument(error: ApiError) {
  return {
    type: `https://uptier.dev/errors/${error.code}`,
    title: TITLES[error.status] ?? "Error",
    status: error.status,
    code: error.code,
    detail: error.message,
    ...(error.extra.param ? { param: error.extra.param } : {}),
    ...(error.extra.errors ? { errors: error.extra.errors } : {}),
    ...(error.extra.issues ? { issues: error.extra.issues } : {}),
  };
}

export function sendProblem(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.extra.retryAfter !== undefined) reply.header("retry-after", String(error.extra.retryAfter));
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(problemDocument(error));
}

function joinPath(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

export function fieldsFromZod(error: ZodError, prefix?: string): ProblemField[] {
  return error.issues.flatMap((issue) => {
    const base = [prefix, joinPath(issue.path)].filter(Boolean).join(".");
    // Unknown fields are named one by one, so the caller sees which key to remove.
    if (issue.code === "unrecognized_keys")
      return issue.keys.map((key) => ({
        param: base ? `${base}.${key}` : key,
        message: "unknown field",
      }));
    return [{ param: base || "(body)", message: issue.message }];
  });
}

function invalidRequest(fields: ProblemField[]): ApiError {
  const first = fields[0];
  const summary = first ? `${first.param}: ${first.message}` : "the request is invalid";
  return new ApiError(400, "invalid_request", `Invalid request — ${summary}.`, {
    ...(first ? { param: first.param } : {}),
    errors: fields,
  });
}

/** Maps Fastify's own failures (bad JSON, too large, wrong content type) and ours onto problems. */
export function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof DomainError)
    return new ApiError(statusOfCode(error.code), error.code, error.message, error.extra);
  if (error instanceof ZodError) return invalidRequest(fieldsFromZod(error));
  // drizzle wraps a query's failure (DrizzleQueryError) with the pool's as its cause
  if (anyCause(error, (e) => e instanceof DatabaseUnavailableError)) return databaseUnavailable();
  if (isConnectionLost(error)) return databaseConnectionLost();
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = fastifyError.validationContext === "body" ? undefined : fastifyError.validationContext;
    const fields = error.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, "").replaceAll("/", ".");
      const param = [where, path].filter(Boolean).join(".");
      if (v.keyword === "unrecognized_keys")
        return ((v.params as { keys?: string[] }).keys ?? []).map((k) => ({
          param: param ? `${param}.${k}` : k,
          message: "unknown field",
        }));
      return [{ param: param || "(body)", message: v.message ?? "invalid" }];
    });
    return invalidRequest(fields.flat());
  }
  switch (fastifyError.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError(
        400,
        "malformed_json",
        `The request body is not valid JSON: ${fastifyError.message}`,
      );
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(413, "payload_too_large", "The request body is larger than the 1 MiB limit.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError(415, "unsupported_media_type", "Send the request body as application/json.");
    case "FST_ERR_MAX_PARAM_LENGTH":
    case "FST_ERR_BAD_URL":
      return new ApiError(
        404,
        "route_not_found",
        "No resource at this URL: an id in the path is malformed or too long.",
      );
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ApiError(
        400,
        "invalid_content_length",
        "The Content-Length header does not match the body.",
      );
  }
  if (
    typeof fastifyError.statusCode === "number" &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  )
    return new ApiError(fastifyError.statusCode, "invalid_request", fastifyError.message);
  return null;
}

/** Fastify's `frameworkErrors` option: router failures (bad URL encoding, over-long ids) as problems. */
export function frameworkProblem(error: FastifyError, _request: unknown, reply: FastifyReply): void {
  sendProblem(reply, toApiError(error) ?? new ApiError(400, "invalid_request", error.message));
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    // an exhausted pool or an unreachable database is the operator's to see, not only the client's
    if (apiError?.status === 503) request.log.error({ err: error }, "database unavailable");
    if (apiError) return sendProblem(reply, apiError);
    request.log.error({ err: error }, "unhandled error");
    return sendProblem(reply, new ApiError(500, "internal_error", "Something went wrong on our side."));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ApiError(404, "route_not_found", `No route ${request.method} ${request.url}.`)),
  );
}
