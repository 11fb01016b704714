CREATE TABLE "invoice_payments" (
	"id" text PRIMARY KEY NOT NULL,
	"invoice_id" text NOT NULL,
	"account_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"payment_method_id" text,
	"gateway" text,
	"gateway_idempotency_key" text NOT NULL,
	"gateway_payment_id" text,
	"failure_code" text,
	"failure_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "invoice_payments_gateway_idempotency_key_unique" UNIQUE("gateway_idempotency_key")
);
--> statement-breakpoint
ALTER TABLE "invoices" ALTER COLUMN "number" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "invoices" ALTER COLUMN "sequence" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "billing_reason" text;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "finalized_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "next_payment_attempt" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "voided_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "marked_uncollectible_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoice_payments" ADD CONSTRAINT "invoice_payments_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "invoice_payments_attempt" ON "invoice_payments" USING btree ("invoice_id","attempt");--> statement-breakpoint
CREATE INDEX "invoice_payments_status" ON "invoice_payments" USING btree ("status","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_one_renewal_per_period" ON "invoices" USING btree ("subscription_id","period_start") WHERE billing_reason = 'subscription_cycle';--> statement-breakpoint
CREATE INDEX "invoices_collection" ON "invoices" USING btree ("status","next_payment_attempt");