import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { sql } from "drizzle-orm";
import Fastify, { type FastifyInstance } from "fastify";
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from "fastify-type-provider-zod";
import { vendorFromEnv } from "./config.ts";
import type { Db } from "./db/client.ts";
import type { Gateways } from "./gateways/gateway.ts";
import { authenticate, cachedCaller } from "./http/plugins/auth.ts";
import { checkIdempotencyKey } from "./http/plugins/idempotency.ts";
import { guardInput } from "./http/plugins/input-guard.ts";
import { registerMetrics } from "./http/plugins/observability.ts";
import { readYourWrites } from "./http/plugins/read-your-writes.ts";
import { ApiError, frameworkProblem, registerProblemHandlers, sendProblem } from "./http/problem.ts";
import type { Clock, RouteContext } from "./http/route-kit.ts";
import { accountRoutes } from "./http/routes/accounts.ts";
import { billingRoutes } from "./http/routes/billing.ts";
import { catalogRoutes } from "./http/routes/catalog.ts";
import { checkRoutes } from "./http/routes/check.ts";
import { creditNoteRoutes } from "./http/routes/credit-notes.ts";
import { unsubscribeRoutes } from "./http/routes/email-unsubscribe.ts";
import { entitlementRoutes } from "./http/routes/entitlements.ts";
import { invoiceRoutes } from "./http/routes/invoices.ts";
import { memberRoutes } from "./http/routes/members.ts";
import { metricsRoutes } from "./http/routes/metrics.ts";
import { playbookRoutes } from "./http/routes/playbook.ts";
import { promptRoutes } from "./http/routes/prompts.ts";
import { schemaRoutes } from "./http/routes/schemas.ts";
import { segmentRoutes } from "./http/routes/segment.ts";
import { subscriptionRoutes } from "./http/routes/subscriptions.ts";
import { testClockRoutes } from "./http/routes/test-clocks.ts";
import { usageRoutes } from "./http/routes/usage.ts";
import { eventRoutes } from "./http/routes/usage-events.ts";
import { webhookRoutes } from "./http/routes/webhooks.ts";
import type { VendorProfile } from "./services/documents/vendor.ts";
import type { DurableSubscription } from "./services/events/durable-subscriber.ts";
import { DomainEventLog } from "./services/events/log-reader.ts";
import { DEFAULT_METERING, type MeteringOptions, MeteringState } from "./services/metering/metering-state.ts";
import type { PlaybookSource } from "./services/plays/evaluate.ts";
import { PlaybookCache } from "./services/plays/playbook-cache.ts";
import type { WebhookUrlPolicy } from "./services/webhooks/endpoints.ts";

export interface AppOptions {
  readonly db: Db;
  readonly clock?: Clock;
  readonly logLevel?: string;
  readonly metering?: Partial<MeteringOptions>;
  /** payment gateways (default: the built-in sandbox, plus Stripe when STRIPE_SECRET_KEY is set) */
  readonly gateways?: Gateways;
  /** which webhook URLs are accepted (default: https, and http only to localhost) */
  readonly webhooks?: WebhookUrlPolicy;
  /** durable consumers of the domain-event log this node drains (webhooks, …); none by default */
  readonly subscribers?: readonly DurableSubscription[];
  /**
   * the playbook the prompt routes read (default: the one in force, `uptier playbook apply`, held in
   * memory); a PlaybookCache given here is kept fresh by this app's domain-event log, so the plays'
   * evaluation (among `subscribers`) can share it
   */
  readonly playbook?: PlaybookSource | PlaybookCache;
  /** the vendor its invoices' and credit notes' PDFs name (default: UPTIER_VENDOR_* of the environment) */
  readonly vendor?: VendorProfile;
}

export const BODY_LIMIT_BYTES = 1024 * 1024;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const level = options.logLevel ?? "info";
  const app = Fastify({
    // "silent" logs nothing: no pino at all then, so a request costs no child logger
    logger: level === "silent" ? false : { level },
    bodyLimit: BODY_LIMIT_BYTES,
    frameworkErrors: frameworkProblem,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Uptier API",
        version: "1.0.0",
        description:
          "Expansion revenue for B2B SaaS. Authenticate with `Authorization: Bearer sk_…`. Errors are RFC 9457 problem documents with a stable `code`. Every POST honours `Idempotency-Key`.",
      },
      components: {
        securitySchemes: { secretKey: { type: "http", scheme: "bearer", bearerFormat: "sk_…" } },
      },
      security: [{ secretKey: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  registerMetrics(app);
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    try {
      await options.db.execute(sql`select 1`);
      return { status: "ready" };
    } catch {
      return sendProblem(reply, new ApiError(503, "database_unavailable", "The database is not reachable."));
    }
  });

  const ctx: RouteContext = { db: options.db, clock: options.clock ?? (() => new Date()) };
  await app.register(async (v1) => {
    // Callback style: a key in the cache is resolved without a promise.
    v1.addHook("onRequest", (request, _reply, done) => {
      const caller = cachedCaller(options.db, request);
      if (caller !== undefined) {
        request.caller = caller;
        done();
        return;
      }
      authenticate(options.db, request).then((c) => {
        request.caller = c;
        done();
      }, done);
    });
    // after the caller is known, before the body is read: a malformed key has done nothing
    v1.addHook("onRequest", checkIdempotencyKey);
    guardInput(v1);
    // The caches follow the domain-event log; its read-your-writes hook covers every route.
    const log = new DomainEventLog(
      options.db,
      options.metering?.pollIntervalMs ?? DEFAULT_METERING.pollIntervalMs,
    );
    const metering = new MeteringState(ctx.db, ctx.clock, options.metering);
    metering.follow(log);
    const playbooks = options.playbook ?? new PlaybookCache(options.db);
    if (playbooks instanceof PlaybookCache) playbooks.follow(log);
    for (const subscriber of options.subscribers ?? []) log.subscribeDurable(subscriber);
    await log.start();
    v1.addHook("onClose", async () => {
      await log.close();
      metering.close();
    });
    readYourWrites(v1, log);
    eventRoutes(v1, ctx, metering);
    segmentRoutes(v1, ctx, metering);
    checkRoutes(v1, ctx, metering);
    entitlementRoutes(v1, ctx, metering);
    usageRoutes(v1, ctx, metering);
    accountRoutes(v1, ctx);
    memberRoutes(v1, ctx);
    subscriptionRoutes(v1, ctx);
    catalogRoutes(v1, ctx);
    playbookRoutes(v1, ctx);
    billingRoutes(v1, ctx, metering, options.gateways);
    const vendor = options.vendor ?? vendorFromEnv();
    invoiceRoutes(v1, ctx, vendor);
    creditNoteRoutes(v1, ctx, vendor);
    metricsRoutes(v1, ctx);
    webhookRoutes(v1, ctx, options.webhooks ?? { allowHttp: false });
    promptRoutes(v1, ctx, playbooks instanceof PlaybookCache ? playbooks.inForce : playbooks, metering);
    testClockRoutes(v1, ctx, playbooks instanceof PlaybookCache ? playbooks.inForce : playbooks);
  });
  // opened from an email by its recipient, who has no API key: the link's token is the authority;
  // the published JSON Schemas describe file formats, not the deployment's data
  await app.register(async (open) => {
    guardInput(open);
    unsubscribeRoutes(open, ctx);
    schemaRoutes(open);
  });
  return app;
}
