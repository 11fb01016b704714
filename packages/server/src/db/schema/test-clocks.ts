import { integer, pgTable, text } from "drizzle-orm/pg-core";
import { created, instant } from "./foundation.ts";

/**
 * Test clocks (Stripe's model): a frozen time that accounts created on the clock live by. Advancing
 * moves `frozen_time` step by step, each step committed once its work is done, so a crash resumes
 * from the last step and nothing runs twice (docs/test-clocks.md).
 */
export const testClocks = pgTable("test_clocks", {
  /** clock_… */
  id: text("id").primaryKey(),
  name: text("name"),
  /** the clock's time: what its accounts' billing, dunning and plays run as of */
  frozenTime: instant("frozen_time").notNull(),
  /** ready, advancing */
  status: text("status").notNull(),
  /** where the advance under way goes (null when ready) */
  advancingTo: instant("advancing_to"),
  /** the node advancing it holds it until then (real time), so one node advances a clock at once */
  leaseUntil: instant("lease_until"),
  /** steps taken by all advances so far (each a committed stop between two due instants) */
  steps: integer("steps").notNull().default(0),
  createdAt: created(),
  deletedAt: instant("deleted_at"),
});
