CREATE TABLE "play_actions" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"play" text NOT NULL,
	"cycle" text NOT NULL,
	"step" integer NOT NULL,
	"variant" text,
	"fired_at" timestamp with time zone NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"sent" jsonb,
	"job_id" text,
	"done_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "checkouts" ADD COLUMN "attribution" jsonb;--> statement-breakpoint
CREATE UNIQUE INDEX "play_actions_step" ON "play_actions" USING btree ("play","account_id","cycle","step");--> statement-breakpoint
CREATE INDEX "play_actions_scheduled" ON "play_actions" USING btree ("account_id") WHERE status = 'scheduled';--> statement-breakpoint
CREATE INDEX "play_actions_due" ON "play_actions" USING btree ("due_at") WHERE status = 'scheduled';--> statement-breakpoint
CREATE INDEX "email_messages_play_recipient" ON "email_messages" USING btree (lower("to_address"),"created_at") WHERE key like 'play-step:%';--> statement-breakpoint
CREATE INDEX "prompt_instances_quote" ON "prompt_instances" USING btree ("quote_id") WHERE quote_id is not null;