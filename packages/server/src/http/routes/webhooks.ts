import {
  CreateWebhookEndpointInput,
  EmptyBody,
  IdParams,
  ListWebhookDeliveriesQuery,
  ListWebhookEndpointsQuery,
  listOf,
  NoQuery,
  UpdateWebhookEndpointInput,
  WebhookDeliveryResponse,
  WebhookEndpointResponse,
  WebhookEndpointWithSecret,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listWebhookDeliveries, replayWebhookDelivery } from "../../services/webhooks/deliveries.ts";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookEndpoints,
  rotateWebhookSecret,
  updateWebhookEndpoint,
  type WebhookUrlPolicy,
} from "../../services/webhooks/endpoints.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

const TAGS = ["webhooks"];

export function webhookRoutes(app: FastifyInstance, ctx: RouteContext, policy: WebhookUrlPolicy) {
  const r = typed(app);
  r.post(
    "/v1/webhook_endpoints",
    {
      schema: {
        tags: TAGS,
        summary: "Create a webhook endpoint (its signing secret is shown in this answer only)",
        body: CreateWebhookEndpointInput,
        response: { 201: WebhookEndpointWithSecret },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await createWebhookEndpoint(tx, request.body, policy, ctx.clock()),
      })),
  );
  r.get(
    "/v1/webhook_endpoints",
    {
      schema: {
        tags: TAGS,
        summary: "List webhook endpoints, newest first",
        querystring: ListWebhookEndpointsQuery,
        response: { 200: listOf(WebhookEndpointResponse) },
      },
    },
    (request) => listWebhookEndpoints(ctx.db, request.query),
  );
  r.get(
    "/v1/webhook_endpoints/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Retrieve a webhook endpoint",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: WebhookEndpointResponse },
      },
    },
    (request) => getWebhookEndpoint(ctx.db, request.params.id),
  );
  r.patch(
    "/v1/webhook_endpoints/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Update a webhook endpoint (URL, description, event types; enable or disable it)",
        params: IdParams,
        body: UpdateWebhookEndpointInput,
        response: { 200: WebhookEndpointResponse },
      },
    },
    (request) =>
      ctx.db.transaction((tx) =>
        updateWebhookEndpoint(tx, request.params.id, request.body, policy, ctx.clock()),
      ),
  );
  r.delete(
    "/v1/webhook_endpoints/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Delete a webhook endpoint (its waiting deliveries are canceled)",
        params: IdParams,
        querystring: NoQuery,
        response: {
          200: z.object({ id: z.string(), object: z.literal("webhook_endpoint"), deleted: z.literal(true) }),
        },
      },
    },
    (request) => ctx.db.transaction((tx) => deleteWebhookEndpoint(tx, request.params.id, ctx.clock())),
  );
  r.post(
    "/v1/webhook_endpoints/:id/rotate_secret",
    {
      schema: {
        tags: TAGS,
        summary: "Replace the signing secret (the old one also signs for 24 hours)",
        params: IdParams,
        body: EmptyBody,
        response: { 200: WebhookEndpointWithSecret },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await rotateWebhookSecret(tx, request.params.id, ctx.clock()),
      })),
  );
  r.get(
    "/v1/webhook_endpoints/:id/deliveries",
    {
      schema: {
        tags: TAGS,
        summary: "The endpoint's delivery log: each message, newest first, with its attempts",
        params: IdParams,
        querystring: ListWebhookDeliveriesQuery,
        response: { 200: listOf(WebhookDeliveryResponse) },
      },
    },
    (request) => listWebhookDeliveries(ctx.db, request.params.id, request.query),
  );
  r.post(
    "/v1/webhook_deliveries/:id/replay",
    {
      schema: {
        tags: TAGS,
        summary: "Send a delivery again (same message, fresh retry schedule)",
        params: IdParams,
        body: EmptyBody,
        response: { 200: WebhookDeliveryResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await replayWebhookDelivery(tx, request.params.id, ctx.clock()),
      })),
  );
}
