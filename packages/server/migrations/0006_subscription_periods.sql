CREATE TABLE "subscription_periods" (
	"subscription_id" text NOT NULL,
	"account_id" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"opened_by" text NOT NULL,
	"invoice_id" text,
	"opening" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscription_periods_subscription_id_period_start_period_end_pk" PRIMARY KEY("subscription_id","period_start","period_end")
);
--> statement-breakpoint
DROP INDEX "invoice_lines_plan_charges";--> statement-breakpoint
ALTER TABLE "subscription_periods" ADD CONSTRAINT "subscription_periods_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Backfill: the periods Uptier billed or began before this record existed, from what shows them
-- (docs/invoice-lifecycle.md, "Upgrading to the period record"). A subscription view in an event
-- holds the shape's amounts item by item (recurring.base, .seats, .add_ons), which is the opening.
-- 1. A switch to annual opened a year at the change instant (its checkout's subscription.updated
--    moved the anchor at once), billed by the checkout's invoice, if it had any lines.
INSERT INTO "subscription_periods" ("subscription_id", "account_id", "period_start", "period_end", "opened_by", "invoice_id", "opening", "created_at")
SELECT s."id", e."account_id", (v ->> 'current_period_start')::timestamptz, (v ->> 'current_period_end')::timestamptz,
  'interval_change', c."invoice_id",
  jsonb_build_object('plan', v -> 'recurring' -> 'base', 'seats', v -> 'recurring' -> 'seats')
    || coalesce((SELECT jsonb_object_agg('add_on:' || (a ->> 'key'), a -> 'amount')
      FROM jsonb_array_elements(v -> 'recurring' -> 'add_ons') a), '{}'::jsonb),
  e."created_at"
FROM "domain_events" e
CROSS JOIN LATERAL (SELECT e."data" -> 'subscription' AS v) x
INNER JOIN "subscriptions" s ON s."id" = v ->> 'id'
LEFT JOIN "checkouts" c ON c."id" = e."data" -> 'change' ->> 'checkout'
WHERE e."type" = 'subscription.updated' AND e."data" -> 'change' ->> 'timing' = 'immediate'
  AND e."data" -> 'previous' ->> 'billing_cycle_anchor' IS DISTINCT FROM v ->> 'billing_cycle_anchor'
  AND v ->> 'current_period_start' IS NOT NULL
ON CONFLICT DO NOTHING;--> statement-breakpoint
-- 2. Every renewal opened its period (a voided one too: it keeps its period), with its lines.
INSERT INTO "subscription_periods" ("subscription_id", "account_id", "period_start", "period_end", "opened_by", "invoice_id", "opening", "created_at")
SELECT i."subscription_id", i."account_id", i."period_start", i."period_end", 'renewal', i."id",
  coalesce((SELECT jsonb_object_agg(l."item", l."amount") FROM (
      SELECT "item", sum("amount") AS "amount" FROM "invoice_lines"
      WHERE "invoice_id" = i."id" AND "kind" = 'charge' AND NOT "proration" AND "period_start" = i."period_start"
      GROUP BY "item") l), '{}'::jsonb),
  i."created_at"
FROM "invoices" i
WHERE i."billing_reason" = 'subscription_cycle' AND i."subscription_id" IS NOT NULL
  AND EXISTS (SELECT 1 FROM "subscriptions" s WHERE s."id" = i."subscription_id")
ON CONFLICT DO NOTHING;--> statement-breakpoint
-- 3. Each subscription's first period (or its trial, which charged nothing), as it was created.
INSERT INTO "subscription_periods" ("subscription_id", "account_id", "period_start", "period_end", "opened_by", "invoice_id", "opening", "created_at")
SELECT s."id", e."account_id", (v ->> 'current_period_start')::timestamptz, (v ->> 'current_period_end')::timestamptz,
  CASE WHEN v ->> 'status' = 'trialing' THEN 'trial' ELSE 'subscription_created' END, NULL,
  CASE WHEN v ->> 'status' = 'trialing' THEN '{}'::jsonb ELSE
    jsonb_build_object('plan', v -> 'recurring' -> 'base', 'seats', v -> 'recurring' -> 'seats')
      || coalesce((SELECT jsonb_object_agg('add_on:' || (a ->> 'key'), a -> 'amount')
        FROM jsonb_array_elements(v -> 'recurring' -> 'add_ons') a), '{}'::jsonb) END,
  e."created_at"
FROM "domain_events" e
CROSS JOIN LATERAL (SELECT e."data" -> 'subscription' AS v) x
INNER JOIN "subscriptions" s ON s."id" = v ->> 'id'
WHERE e."type" = 'subscription.created' AND v ->> 'current_period_start' IS NOT NULL
ON CONFLICT DO NOTHING;
