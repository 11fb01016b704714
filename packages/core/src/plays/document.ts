import { z } from "zod";

/**
 * The playbook as code: `uptier.playbook.yaml`, beside the catalog. This zod schema is the one
 * definition; the published JSON Schema (playbook.schema.json) is generated from it, and
 * `validatePlaybook` (playbook.ts) parses a document and checks what a schema cannot (playbook-checks.ts):
 * references into the catalog, template variables, escalation cycles and impossible windows.
 */

/** Catalog keys (features, plans, add-ons): lower snake_case, as the catalog writes them. */
const Key = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "must be lower snake_case, starting with a letter");

/** A play's or a variant's id: a slug. */
export const Slug = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, "must be a slug: lower-case letters and digits joined by -");

const DURATION = /^([1-9][0-9]{0,5})(m|h|d)$/;
const SECONDS_PER_UNIT = { m: 60, h: 3600, d: 86_400 } as const;
/** The longest delay a follow-up or a variant waits: a year. */
export const MAX_DURATION_SECONDS = 366 * 86_400;

/** A duration such as `30m`, `24h` or `7d`: whole minutes, hours or days, at most 366 days. */
export const Duration = z
  .string()
  .regex(DURATION, "must be a whole number of minutes, hours or days, such as 30m, 24h or 7d")
  .refine((text) => !(durationSeconds(text) > MAX_DURATION_SECONDS), "must be at most 366 days");

/** The seconds a Duration stands for (NaN for text that is not one). */
export function durationSeconds(text: string): number {
  const match = DURATION.exec(text);
  if (!match) return Number.NaN;
  return Number(match[1]) * SECONDS_PER_UNIT[match[2] as keyof typeof SECONDS_PER_UNIT];
}

const Days = (max: number) => z.number().int().min(1).max(max);

/** A usage ratio: a share of the limit in whole percent, 0.01 to 1. */
const Ratio = z
  .number()
  .gt(0, "must be above 0")
  .max(1, "must be at most 1 (the limit itself)")
  .refine((r) => Math.abs(r * 100 - Math.round(r * 100)) < 1e-9, "must be a whole percent, such as 0.8");

const EventName = z.string().min(1).max(200);

export const Trigger = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("usage_ratio"), feature: Key, at: Ratio }).strict(),
  z.object({ kind: z.literal("limit_reached"), feature: Key }).strict(),
  z.object({ kind: z.literal("feature_locked"), feature: Key }).strict(),
  z
    .object({
      kind: z.literal("event_count"),
      event: EventName,
      count: z.number().int().min(1).max(1_000_000),
      within_days: Days(3650).optional(),
    })
    .strict(),
  z.object({ kind: z.literal("seat_limit_hit") }).strict(),
  z.object({ kind: z.literal("plan_tenure"), plan: Key.optional(), days: Days(3650) }).strict(),
  z
    .object({
      kind: z.literal("subscription_month"),
      months: z.array(z.number().int().min(1).max(120)).min(1).max(24),
      /** fire this many days before each point (before that month's invoice) */
      days_before: z.number().int().min(0).max(27).default(0),
    })
    .strict(),
  z.object({ kind: z.literal("before_renewal"), days: Days(365) }).strict(),
  z
    .object({
      kind: z.literal("account_age"),
      from_days: z.number().int().min(0).max(3650),
      to_days: Days(3650).optional(),
    })
    .strict(),
]);
export type Trigger = z.infer<typeof Trigger>;
export type TriggerKind = Trigger["kind"];
export type TriggerOf<K extends TriggerKind> = Extract<Trigger, { kind: K }>;

const Scalar = z.union([z.string().max(200), z.number(), z.boolean()]);
/** A property test: a value (equal), a list (any of), or a numeric range. */
export const PropertyMatch = z.union([
  Scalar,
  z.array(Scalar).min(1).max(100),
  z
    .object({ gte: z.number().optional(), lte: z.number().optional() })
    .strict()
    .refine((r) => r.gte !== undefined || r.lte !== undefined, "name gte, lte or both"),
]);
export type PropertyMatch = z.infer<typeof PropertyMatch>;
const PropertyKey = z.string().min(1).max(100);
const Properties = z
  .record(PropertyKey, PropertyMatch)
  .refine((r) => Object.keys(r).length <= 20, "at most 20 properties");

export const Role = z.enum(["admin", "member"]);
export type Role = z.infer<typeof Role>;
const unique = <T>(list: readonly T[]) => new Set(list).size === list.length;
const Distinct = <T extends z.ZodType>(item: T, max: number) =>
  z.array(item).min(1).max(max).refine(unique, "must not repeat an entry");

export const Audience = z
  .object({
    plans: Distinct(Key, 100).optional(),
    intervals: Distinct(z.enum(["month", "year"]), 2).optional(),
    segments: Distinct(z.enum(["smb", "mid_market", "enterprise"]), 3).optional(),
    /** admins get the buy action; members get "ask your admin" (default: both) */
    roles: Distinct(Role, 2).optional(),
    account: Properties.optional(),
    member: Properties.optional(),
  })
  .strict();
export type Audience = z.infer<typeof Audience>;

export const OfferChange = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("next_plan") }).strict(),
  z.object({ kind: z.literal("plan"), plan: Key, interval: z.enum(["month", "year"]).optional() }).strict(),
  z.object({ kind: z.literal("interval"), interval: z.enum(["month", "year"]) }).strict(),
  z.object({ kind: z.literal("seats"), add: z.number().int().min(1).max(1000) }).strict(),
  z
    .object({
      kind: z.literal("add_on"),
      add_on: Key,
      quantity: z.number().int().min(1).max(1000).default(1),
    })
    .strict(),
  z.object({ kind: z.literal("none") }).strict(),
]);
export type OfferChange = z.infer<typeof OfferChange>;

export const Offer = z
  .object({
    change: OfferChange,
    /** shown text, such as the month-9 nudge's "an extra seat for 3 months" */
    bonus: z.string().min(1).max(200).optional(),
  })
  .strict();
export type Offer = z.infer<typeof Offer>;

const Title = z.string().min(1).max(200);
const Body = z.string().min(1).max(4000);
const Cta = z.string().min(1).max(100);
export const Message = z.object({ title: Title, body: Body, cta: Cta.optional() }).strict();
export type Message = z.infer<typeof Message>;

export const Channel = z.enum(["in_app", "email", "webhook", "crm_task"]);
export type Channel = z.infer<typeof Channel>;
const Channels = Distinct(Channel, 4);

/** What cancels a follow-up: the account converting, the prompt clicked, or any answer at all. */
export const FollowUpUnless = z.enum(["converted", "clicked", "answered"]);

export const FollowUp = z
  .object({
    after: Duration,
    unless: FollowUpUnless.default("converted"),
    channels: Channels,
    message: Message,
  })
  .strict();
export type FollowUp = z.infer<typeof FollowUp>;

export const Variant = z
  .object({
    id: Slug,
    weight: z.number().int().min(1).max(10_000),
    message: z
      .object({ title: Title.optional(), body: Body.optional(), cta: Cta.optional() })
      .strict()
      .optional(),
    offer: Offer.optional(),
    /** shown this long after the trigger fires instead of at once */
    delay: Duration.optional(),
  })
  .strict();
export type Variant = z.infer<typeof Variant>;

export const Experiment = z
  .object({
    /** percent of accounts that see nothing (the control) */
    holdout: z.number().int().min(0).max(99).default(0),
    /** mixed into assignment: a new salt re-draws every account's arm (restart an experiment) */
    salt: z.string().min(1).max(64).optional(),
    variants: z.array(Variant).min(1).max(10),
  })
  .strict();
export type Experiment = z.infer<typeof Experiment>;

export const Play = z
  .object({
    id: Slug,
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    enabled: z.boolean().default(true),
    /** higher wins when several plays are eligible */
    priority: z.number().int().min(0).max(1000).default(0),
    trigger: Trigger,
    audience: Audience.default({}),
    offer: Offer.default({ change: { kind: "none" } }),
    message: Message,
    /** where in the app it shows (the SDK asks per placement) */
    placement: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z][a-z0-9_-]*$/, "must be lower-case letters, digits, _ or -")
      .default("banner"),
    channels: Channels.default(["in_app"]),
    expires_after_days: Days(365).default(14),
    /** shown only if this play was shown and did not convert */
    escalates: Slug.optional(),
    follow_ups: z.array(FollowUp).max(10).default([]),
    experiment: Experiment.optional(),
  })
  .strict();
export type Play = z.infer<typeof Play>;
export type PlayInput = z.input<typeof Play>;

export const PlaybookDefaults = z
  .object({
    caps: z
      .object({
        per_user_per_day: z.number().int().min(1).max(100).default(1),
        per_account_per_week: z.number().int().min(1).max(1000).default(3),
      })
      .strict()
      .default({ per_user_per_day: 1, per_account_per_week: 3 }),
    /** "not now" hides a prompt this many days (seed 001: 7) */
    snooze_days: Days(365).default(7),
    /** never the same prompt on every page load */
    min_hours_between_shows: z
      .number()
      .int()
      .min(0)
      .max(24 * 90)
      .default(24),
  })
  .strict();
export type PlaybookDefaults = z.infer<typeof PlaybookDefaults>;

/** The most plays one playbook holds. */
export const MAX_PLAYS = 500;

const envelope = {
  $schema: z.string().optional(),
  version: z.literal(1),
  defaults: PlaybookDefaults.default({
    caps: { per_user_per_day: 1, per_account_per_week: 3 },
    snooze_days: 7,
    min_hours_between_shows: 24,
  }),
};

export const PlaybookDocument = z.object({ ...envelope, plays: z.array(Play).max(MAX_PLAYS) }).strict();

/** The document with its plays left unparsed: validation parses each play on its own. */
export const PlaybookEnvelope = z
  .object({ ...envelope, plays: z.array(z.unknown()).max(MAX_PLAYS) })
  .strict();
export type Playbook = z.infer<typeof PlaybookDocument>;
export type PlaybookInput = z.input<typeof PlaybookDocument>;
