import { date, index, jsonb, numeric, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { created, instant } from "./foundation.ts";

/**
 * Usage metering. Events are stored once per (account, id): the primary key, not timing, makes
 * ingestion exactly-once, also when two copies race on two connections. Counters are
 * pre-aggregated per meter window and per day, written atomically with the events they count (one
 * statement). Every table leads with account_id so it can be sharded by it.
 */
export const usageEvents = pgTable(
  "usage_events",
  {
    accountId: text("account_id").notNull(),
    /** the sender's id for the event: a retry with the same id is a duplicate */
    id: text("id").notNull(),
    event: text("event").notNull(),
    userId: text("user_id"),
    timestamp: instant("timestamp").notNull(),
    properties: jsonb("properties").notNull(),
    receivedAt: created(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.id] }),
    index("usage_events_account_time").on(t.accountId, t.timestamp),
  ],
);

/**
 * Pre-aggregated usage: a meter's increments per window (billing period, calendar month, or since
 * the epoch) and UTC day. The window's total is the sum of its days (the maximum for max meters;
 * for unique_count each value counts on the day it was first seen), so one row per event's day is
 * both the counter and the daily history.
 */
export const usageCounters = pgTable(
  "usage_counters",
  {
    accountId: text("account_id").notNull(),
    meter: text("meter").notNull(),
    periodStart: instant("period_start").notNull(),
    day: date("day", { mode: "string" }).notNull(),
    aggregation: text("aggregation").notNull(),
    value: numeric("value").notNull(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.meter, t.periodStart, t.day] })],
);

/** The distinct values a unique_count meter has seen in a window. */
export const usageUniqueValues = pgTable(
  "usage_unique_values",
  {
    accountId: text("account_id").notNull(),
    meter: text("meter").notNull(),
    periodStart: instant("period_start").notNull(),
    value: text("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.meter, t.periodStart, t.value] })],
);

/** Limit features take a gauge the vendor reports (PUT /v1/accounts/{id}/usage/{feature}). */
export const usageGauges = pgTable(
  "usage_gauges",
  {
    accountId: text("account_id").notNull(),
    feature: text("feature").notNull(),
    value: numeric("value").notNull(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.feature] })],
);

/** Segment's group call: which account (group) a user belongs to, for track calls without a groupId. */
export const segmentUserAccounts = pgTable("segment_user_accounts", {
  userId: text("user_id").primaryKey(),
  accountId: text("account_id").notNull(),
  updatedAt: instant("updated_at").notNull().defaultNow(),
});
