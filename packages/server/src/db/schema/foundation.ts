import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

/**
 * The one schema, for PGlite and PostgreSQL alike. Conventions (docs/rules.md): ids are prefixed
 * ULIDs, instants are timestamptz (UTC), money is integer minor units, every tenant table carries
 * account_id so it can be sharded by it.
 */
export const instant = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
export const created = () => instant("created_at").notNull().defaultNow();

export const apiKeys = pgTable("api_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** the first characters of the key, to recognise it in a list; the key itself is never stored */
  prefix: text("prefix").notNull(),
  /** sha256 of the whole key: keys are 192-bit random, so a fast hash is the right one (as Stripe, Unkey) */
  hash: text("hash").notNull().unique(),
  createdAt: created(),
  revokedAt: instant("revoked_at"),
});

export const catalogVersions = pgTable("catalog_versions", {
  version: integer("version").primaryKey(),
  /** sha256 of the canonical document: applying the same catalog twice changes nothing */
  hash: text("hash").notNull(),
  document: jsonb("document").notNull(),
  appliedAt: created(),
});

export const features = pgTable("features", {
  key: text("key").primaryKey(),
  kind: text("kind").notNull(),
  name: text("name").notNull(),
  definition: jsonb("definition").notNull(),
  catalogVersion: integer("catalog_version").notNull(),
  archivedAt: instant("archived_at"),
});

/** Meters are versioned, never edited in place: a changed definition is a new row. */
export const meters = pgTable(
  "meters",
  {
    id: text("id").primaryKey(),
    key: text("key").notNull(),
    version: integer("version").notNull(),
    definition: jsonb("definition").notNull(),
    createdAt: created(),
    archivedAt: instant("archived_at"),
  },
  (t) => [uniqueIndex("meters_key_version").on(t.key, t.version)],
);

export const plans = pgTable("plans", {
  key: text("key").primaryKey(),
  name: text("name").notNull(),
  tier: integer("tier").notNull(),
  currentVersionId: text("current_version_id").notNull(),
  archivedAt: instant("archived_at"),
});

/**
 * An immutable snapshot of a plan's prices, seats and grants. A subscription pins the version it
 * bought (grandfathering) until it is moved explicitly.
 */
export const planVersions = pgTable(
  "plan_versions",
  {
    id: text("id").primaryKey(),
    planKey: text("plan_key").notNull(),
    version: integer("version").notNull(),
    currency: text("currency").notNull(),
    definition: jsonb("definition").notNull(),
    createdAt: created(),
  },
  (t) => [uniqueIndex("plan_versions_key_version").on(t.planKey, t.version)],
);

export const addOns = pgTable("add_ons", {
  key: text("key").primaryKey(),
  name: text("name").notNull(),
  currentVersionId: text("current_version_id").notNull(),
  archivedAt: instant("archived_at"),
});

export const addOnVersions = pgTable(
  "add_on_versions",
  {
    id: text("id").primaryKey(),
    addOnKey: text("add_on_key").notNull(),
    version: integer("version").notNull(),
    currency: text("currency").notNull(),
    definition: jsonb("definition").notNull(),
    createdAt: created(),
  },
  (t) => [uniqueIndex("add_on_versions_key_version").on(t.addOnKey, t.version)],
);

export const accounts = pgTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    externalId: text("external_id").notNull().unique(),
    name: text("name").notNull(),
    properties: jsonb("properties").notNull().default({}),
    /**
     * The test clock the account lives by (test_clocks.id), set at creation only: its billing and
     * plays run when the clock advances, never in real time.
     */
    testClockId: text("test_clock_id"),
    createdAt: created(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [index("accounts_on_test_clock").on(t.testClockId, t.id).where(sql`test_clock_id is not null`)],
);

export const members = pgTable(
  "members",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    /** the vendor's user id; null while an invite has not been accepted */
    externalUserId: text("external_user_id"),
    email: text("email").notNull(),
    /** the person's name, as prompts greet them; null when none was given */
    name: text("name"),
    role: text("role").notNull(),
    status: text("status").notNull(),
    /** scalars the plays' member audience rules test (core/accounts/member.ts bounds them) */
    properties: jsonb("properties").notNull().default({}),
    createdAt: created(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
    activatedAt: instant("activated_at"),
    removedAt: instant("removed_at"),
  },
  (t) => [
    index("members_account").on(t.accountId, t.id),
    uniqueIndex("members_account_user")
      .on(t.accountId, t.externalUserId)
      .where(sql`status <> 'removed' and external_user_id is not null`),
    uniqueIndex("members_account_email")
      .on(t.accountId, sql`lower(${t.email})`)
      .where(sql`status <> 'removed'`),
  ],
);

export const subscriptions = pgTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    planKey: text("plan_key").notNull(),
    planVersionId: text("plan_version_id")
      .notNull()
      .references(() => planVersions.id),
    interval: text("interval").notNull(),
    seats: integer("seats").notNull(),
    status: text("status").notNull(),
    currency: text("currency").notNull(),
    /** periods are computed from the anchor (month-end clamping), never stored and drifted */
    billingCycleAnchor: instant("billing_cycle_anchor").notNull(),
    trialEnd: instant("trial_end"),
    /** set when a cancellation at period end is requested: the end of the period it was requested in */
    cancelAt: instant("cancel_at"),
    canceledAt: instant("canceled_at"),
    endedAt: instant("ended_at"),
    /**
     * How the usage of its last period was settled once it ended (renewals.ts draftFinalInvoice):
     * "invoiced" (a subscription_final invoice), "none" (no overage), "waived" (canceled as
     * delinquent: written off, nothing more billed), "before_final_invoices" (ended before
     * Uptier billed it; set by migration 0003). Null while live or not settled yet.
     */
    finalUsage: text("final_usage"),
    finalUsageAt: instant("final_usage_at"),
    /** bumped by every change, so a quote priced on an older revision is known to be stale */
    revision: integer("revision").notNull().default(1),
    createdAt: created(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [
    index("subscriptions_account").on(t.accountId),
    uniqueIndex("subscriptions_one_live_per_account").on(t.accountId).where(sql`status <> 'canceled'`),
    // The renewal job's final-invoice candidates (renewals.ts finalCandidates): ended, or due to end,
    // and not settled yet. Each subscription leaves both once settled, so they stay small.
    index("subscriptions_final_pending_ended")
      .on(t.id)
      .where(sql`final_usage is null and status = 'canceled'`),
    index("subscriptions_final_pending_cancel")
      .on(t.cancelAt)
      .where(sql`final_usage is null and cancel_at is not null`),
  ],
);

export const subscriptionAddOns = pgTable(
  "subscription_add_ons",
  {
    accountId: text("account_id").notNull(),
    subscriptionId: text("subscription_id")
      .notNull()
      .references(() => subscriptions.id),
    addOnKey: text("add_on_key").notNull(),
    addOnVersionId: text("add_on_version_id")
      .notNull()
      .references(() => addOnVersions.id),
    quantity: integer("quantity").notNull(),
    createdAt: created(),
  },
  (t) => [primaryKey({ columns: [t.subscriptionId, t.addOnKey] })],
);

/** The transactional outbox: every state change writes one row here in the same transaction. */
export const domainEvents = pgTable(
  "domain_events",
  {
    seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    id: text("id").notNull().unique(),
    accountId: text("account_id"),
    type: text("type").notNull(),
    data: jsonb("data").notNull(),
    createdAt: created(),
  },
  (t) => [index("domain_events_account").on(t.accountId, t.seq)],
);

/**
 * Sequence numbers of the log that a durable subscriber has not read though a later one committed:
 * handed out to a transaction still running then, or one that rolled back. Re-read until they
 * commit or their transactions have ended: every transaction with an id below `horizon` (a
 * PostgreSQL xid8, as text), and at least the patience after `seen`.
 */
export interface CursorGap {
  readonly from: number;
  readonly to: number;
  readonly seen: string;
  readonly horizon: string;
}

/** Where each durable subscriber of the domain-event log stands; locked by the node processing it. */
export const eventCursors = pgTable("event_cursors", {
  subscriber: text("subscriber").primaryKey(),
  /** the highest sequence number the subscriber has processed */
  lastSeq: bigint("last_seq", { mode: "number" }).notNull(),
  gaps: jsonb("gaps").$type<CursorGap[]>().notNull().default([]),
  updatedAt: instant("updated_at").notNull().defaultNow(),
});

/** An Idempotency-Key is stored with its effect in one transaction and kept 35 days. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    apiKeyId: text("api_key_id").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    statusCode: integer("status_code").notNull(),
    response: jsonb("response").notNull(),
    createdAt: created(),
  },
  (t) => [primaryKey({ columns: [t.apiKeyId, t.key] }), index("idempotency_keys_created").on(t.createdAt)],
);
