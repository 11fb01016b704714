CREATE TABLE "prompt_events" (
	"id" text PRIMARY KEY NOT NULL,
	"prompt_id" text NOT NULL,
	"account_id" text NOT NULL,
	"type" text NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "prompt_instances" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"play" text NOT NULL,
	"user_id" text NOT NULL,
	"cycle" text NOT NULL,
	"placement" text NOT NULL,
	"action" text NOT NULL,
	"state" text NOT NULL,
	"variant" text,
	"facts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"offered_change" jsonb,
	"rendered" jsonb,
	"quote_id" text,
	"eligible_at" timestamp with time zone NOT NULL,
	"state_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"shown_at" timestamp with time zone,
	"clicked_at" timestamp with time zone,
	"dismissed_at" timestamp with time zone,
	"snoozed_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "prompt_usage_marks" (
	"account_id" text NOT NULL,
	"feature" text NOT NULL,
	"window_start" timestamp with time zone,
	"used" bigint NOT NULL,
	"limit" bigint,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "prompt_usage_marks_account_id_feature_pk" PRIMARY KEY("account_id","feature")
);
--> statement-breakpoint
ALTER TABLE "prompt_events" ADD CONSTRAINT "prompt_events_prompt_id_prompt_instances_id_fk" FOREIGN KEY ("prompt_id") REFERENCES "public"."prompt_instances"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "prompt_events_account" ON "prompt_events" USING btree ("account_id","at") WHERE type = 'shown';--> statement-breakpoint
CREATE UNIQUE INDEX "prompt_instances_cycle" ON "prompt_instances" USING btree ("play","account_id","user_id","cycle");--> statement-breakpoint
CREATE INDEX "prompt_instances_account" ON "prompt_instances" USING btree ("account_id","user_id","state");