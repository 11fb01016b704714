ALTER TABLE "quotes" ALTER COLUMN "target" SET DATA TYPE json;--> statement-breakpoint
ALTER TABLE "quotes" ALTER COLUMN "purpose" SET DATA TYPE json;--> statement-breakpoint
ALTER TABLE "quotes" ALTER COLUMN "view" SET DATA TYPE json;