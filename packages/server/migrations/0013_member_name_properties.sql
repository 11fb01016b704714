ALTER TABLE "members" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "members" ADD COLUMN "properties" jsonb DEFAULT '{}'::jsonb NOT NULL;