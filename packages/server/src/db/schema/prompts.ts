import { sql } from "drizzle-orm";
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { created, instant } from "./foundation.ts";

/**
 * Prompts: a play's offer for one user of an account, once per trigger cycle (docs/plays.md, "In
 * the app: prompts"). The evaluation writes them in the transaction that moves its cursor over the
 * domain-event log; the SDK's events move their state (core's transitionPrompt decides every move).
 */

/** What a prompt offers, as a change a quote can price (null fields: unchanged). */
export interface OfferedChange {
  readonly plan?: string;
  readonly interval?: "month" | "year";
  readonly seats?: number;
  readonly add_ons?: readonly { readonly key: string; readonly quantity: number }[];
}

/** The copy as rendered when the prompt was last answered: what the user saw. */
export interface RenderedCopy {
  readonly title: string;
  readonly body: string;
  readonly cta: string | null;
}

export const promptInstances = pgTable(
  "prompt_instances",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    play: text("play").notNull(),
    /** the vendor's user id of the member it is for */
    userId: text("user_id").notNull(),
    /** the trigger's cycle: one prompt per (play, account, user, cycle) */
    cycle: text("cycle").notNull(),
    placement: text("placement").notNull(),
    /** buy (an admin) or ask_admin (a member) */
    action: text("action").notNull(),
    state: text("state").notNull(),
    /** the experiment's variant; null without an experiment */
    variant: text("variant"),
    /** what the trigger saw when it fired (the feature's usage, for the copy) */
    facts: jsonb("facts").$type<Record<string, unknown>>().notNull().default({}),
    offeredChange: jsonb("offered_change").$type<OfferedChange | null>(),
    rendered: jsonb("rendered").$type<RenderedCopy | null>(),
    /** the quote the prompt last showed: accepting it is one checkout of this quote */
    quoteId: text("quote_id"),
    eligibleAt: instant("eligible_at").notNull(),
    stateAt: instant("state_at").notNull(),
    expiresAt: instant("expires_at"),
    shownAt: instant("shown_at"),
    clickedAt: instant("clicked_at"),
    dismissedAt: instant("dismissed_at"),
    snoozedUntil: instant("snoozed_until"),
    createdAt: created(),
  },
  (t) => [
    uniqueIndex("prompt_instances_cycle").on(t.play, t.accountId, t.userId, t.cycle),
    index("prompt_instances_account").on(t.accountId, t.userId, t.state),
    // a checkout finds the prompt whose quote it applies (attribution)
    index("prompt_instances_quote").on(t.quoteId).where(sql`quote_id is not null`),
  ],
);

/** Every move of a prompt, oldest first: the caps count its impressions (type `shown`). */
export const promptEvents = pgTable(
  "prompt_events",
  {
    id: text("id").primaryKey(),
    promptId: text("prompt_id")
      .notNull()
      .references(() => promptInstances.id),
    accountId: text("account_id").notNull(),
    type: text("type").notNull(),
    at: instant("at").notNull(),
  },
  (t) => [index("prompt_events_account").on(t.accountId, t.at).where(sql`type = 'shown'`)],
);

/**
 * The last usage reading the evaluation saw per account and feature: a usage trigger fires when an
 * event crosses its ratio, from this reading to the one after the event.
 */
export const promptUsageMarks = pgTable(
  "prompt_usage_marks",
  {
    accountId: text("account_id").notNull(),
    feature: text("feature").notNull(),
    windowStart: instant("window_start"),
    used: bigint("used", { mode: "number" }).notNull(),
    limit: bigint("limit", { mode: "number" }),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.feature] })],
);

/**
 * What a play does beyond the in-app prompt, once per firing (play, account, cycle): step 0 is the
 * play's own email, webhook and CRM-task channels at the moment it fires; step n is its n-th
 * follow-up. Each step is a delayed job of the queue `plays.act`; when it runs it checks its
 * condition again (docs/plays.md, "Follow-ups") and records here what it did.
 */
export const playActions = pgTable(
  "play_actions",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    play: text("play").notNull(),
    cycle: text("cycle").notNull(),
    step: integer("step").notNull(),
    /** the experiment's variant of the firing; null without an experiment */
    variant: text("variant"),
    /** when the play fired (the start of the follow-ups' delays) */
    firedAt: instant("fired_at").notNull(),
    dueAt: instant("due_at").notNull(),
    /** scheduled, then done (sent), skipped (its condition was gone) or canceled (the account converted) */
    status: text("status").notNull(),
    /** why it was skipped or canceled, in words */
    reason: text("reason"),
    /** the channels it used when it was done */
    sent: jsonb("sent").$type<readonly string[]>(),
    /** the queue's job that runs it */
    jobId: text("job_id"),
    doneAt: instant("done_at"),
    createdAt: created(),
  },
  (t) => [
    uniqueIndex("play_actions_step").on(t.play, t.accountId, t.cycle, t.step),
    index("play_actions_scheduled").on(t.accountId).where(sql`status = 'scheduled'`),
    index("play_actions_due").on(t.dueAt).where(sql`status = 'scheduled'`),
  ],
);
