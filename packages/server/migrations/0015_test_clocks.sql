CREATE TABLE "test_clocks" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"frozen_time" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"advancing_to" timestamp with time zone,
	"lease_until" timestamp with time zone,
	"steps" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "test_clock_id" text;--> statement-breakpoint
CREATE INDEX "accounts_on_test_clock" ON "accounts" USING btree ("test_clock_id","id") WHERE test_clock_id is not null;