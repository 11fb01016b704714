ALTER TABLE "subscriptions" ADD COLUMN "final_usage" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "final_usage_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_one_final_per_subscription" ON "invoices" USING btree ("subscription_id") WHERE billing_reason = 'subscription_final';--> statement-breakpoint
-- Subscriptions that had already ended when final invoices arrived are not billed now, perhaps
-- months later, for usage Uptier never invoiced then (docs/invoice-lifecycle.md, "The final
-- invoice"). An operator who wants a recently ended one billed sets its final_usage back to null.
UPDATE "subscriptions" SET "final_usage" = 'before_final_invoices', "final_usage_at" = now() WHERE "status" = 'canceled' OR "cancel_at" <= now();
