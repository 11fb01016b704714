import {
  CancelSubscriptionInput,
  CreateSubscriptionInput,
  EmptyBody,
  IdParams,
  ListSubscriptionsQuery,
  listOf,
  NoQuery,
  SubscriptionResponse,
  UpdateSubscriptionInput,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import {
  cancelScheduledChange,
  subscriptionInForce,
  subscriptionsInForce,
} from "../../services/subscriptions/scheduled-changes.ts";
import { cancelSubscription, createSubscription } from "../../services/subscriptions/subscriptions.ts";
import { updateSubscription } from "../../services/subscriptions/update.ts";
import { accountTimesOf } from "../../services/test-clocks/account-time.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

export function subscriptionRoutes(app: FastifyInstance, ctx: RouteContext) {
  const r = typed(app);
  r.post(
    "/v1/subscriptions",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "Create a subscription",
        body: CreateSubscriptionInput,
        response: { 201: SubscriptionResponse },
      },
    },
    async (request, reply) => {
      // an account on a test clock subscribes at the clock's time
      const at = await accountTimesOf(ctx).of(ctx.db, request.body.account, ctx.clock());
      return respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await createSubscription(tx, request.body, at),
      }));
    },
  );
  r.get(
    "/v1/subscriptions",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "List subscriptions, newest first",
        querystring: ListSubscriptionsQuery,
        response: { 200: listOf(SubscriptionResponse) },
      },
    },
    (request) => subscriptionsInForce(ctx.db, request.query, ctx.clock()),
  );
  r.get(
    "/v1/subscriptions/:id",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "Retrieve a subscription",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: SubscriptionResponse },
      },
    },
    async (request) =>
      subscriptionInForce(
        ctx.db,
        request.params.id,
        await accountTimesOf(ctx).ofSubscription(ctx.db, request.params.id, ctx.clock()),
      ),
  );
  r.patch(
    "/v1/subscriptions/:id",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "Change a subscription administratively (no charge; customers buy through quotes)",
        description:
          "A change of the plan, seats, add-ons or plan version supersedes the change scheduled for the period end, if any: it is canceled (`scheduled_change: null`, event `subscription.scheduled_change_canceled`). `cancel_at_period_end` alone leaves it.",
        params: IdParams,
        body: UpdateSubscriptionInput,
        response: { 200: SubscriptionResponse },
      },
    },
    (request) =>
      ctx.db.transaction((tx) => updateSubscription(tx, request.params.id, request.body, ctx.clock())),
  );
  r.post(
    "/v1/subscriptions/:id/cancel",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "Cancel a subscription, at period end by default",
        params: IdParams,
        body: CancelSubscriptionInput.default({ at_period_end: true }),
        response: { 200: SubscriptionResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await cancelSubscription(tx, request.params.id, request.body, ctx.clock()),
      })),
  );
  r.post(
    "/v1/subscriptions/:id/scheduled_change/cancel",
    {
      schema: {
        tags: ["subscriptions"],
        summary: "Cancel the subscription's scheduled change: it stays as it is at the period end",
        description:
          "409 `no_scheduled_change` when none is pending, `scheduled_change_in_effect` once its instant has come, `subscription_canceled` when the subscription has ended.",
        params: IdParams,
        body: EmptyBody,
        response: { 200: SubscriptionResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 200,
        body: await cancelScheduledChange(tx, request.params.id, ctx.clock()),
      })),
  );
}
