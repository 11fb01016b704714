import { z } from "zod";
import { IsoInstant } from "../periods/instant.ts";

/**
 * Usage events as the API and the SDK send them. One event or a batch of up to MAX_BATCH_EVENTS;
 * each event is judged on its own, so one bad event never rejects or loses the good ones.
 */
export const MAX_BATCH_EVENTS = 1000;
/** An event's serialised size limit (Segment's: 32 KB per call). */
export const MAX_EVENT_BYTES = 32 * 1024;
/** Late events count in the period they belong to for this long (default 7 days). */
export const DEFAULT_LATE_WINDOW_MS = 7 * 86_400_000;
/** Clock skew tolerated for events stamped in the future. */
export const DEFAULT_FUTURE_TOLERANCE_MS = 5 * 60_000;

const EventName = z.string().min(1).max(200);

export const UsageEventInput = z
  .object({
    id: z
      .string()
      .min(1)
      .max(255)
      .describe("Your unique id for this event: a retry with the same id is counted once"),
    account: z.string().min(1).max(255).describe("Account id (acct_…) or your external id for the account"),
    user: z.string().min(1).max(255).optional().describe("The person who did it, your user id"),
    event: EventName.describe("Event name; meters count the events whose name they name"),
    timestamp: IsoInstant.optional().describe(
      "When it happened (ISO 8601); defaults to when Uptier received it",
    ),
    properties: z.record(z.string().min(1).max(200), z.unknown()).default({}),
  })
  .strict();
export type UsageEventInput = z.infer<typeof UsageEventInput>;

export const EventsBatchInput = z
  .object({
    events: z.array(z.unknown()).min(1).describe(`Up to ${MAX_BATCH_EVENTS} events, each judged on its own`),
  })
  .strict();

/** Why an event was not counted. Stable codes: branch on them. */
export const EventRejection = z.enum([
  "invalid_event",
  "missing_id",
  "event_too_large",
  "timestamp_too_old",
  "timestamp_in_future",
  "invalid_property_value",
  "unknown_account",
  "unsupported_character",
  "nesting_too_deep",
  "number_out_of_range",
]);
export type EventRejection = z.infer<typeof EventRejection>;

export const EventResult = z.object({
  index: z.number().int(),
  id: z.string().nullable(),
  status: z.enum(["accepted", "duplicate", "rejected"]),
  code: EventRejection.optional(),
  message: z.string().optional(),
});
export type EventResult = z.infer<typeof EventResult>;

export const EventsBatchResponse = z.object({
  object: z.literal("event_batch"),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  results: z.array(EventResult),
});
export type EventsBatchResponse = z.infer<typeof EventsBatchResponse>;

export interface TimingPolicy {
  readonly lateWindowMs: number;
  readonly futureToleranceMs: number;
}

export const DEFAULT_TIMING: TimingPolicy = {
  lateWindowMs: DEFAULT_LATE_WINDOW_MS,
  futureToleranceMs: DEFAULT_FUTURE_TOLERANCE_MS,
};

export type Judged<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: EventRejection; readonly message: string };

/** A parsed event with its instant resolved. */
export interface AcceptedEvent extends Omit<UsageEventInput, "timestamp"> {
  readonly timestamp: Date;
}

function rejection(code: EventRejection, message: string): Judged<never> {
  return { ok: false, code, message };
}

/**
 * Judges one raw event of a batch: shape, size, and time window. `receivedAt` is the server's
 * clock; an event older than the late window, or further in the future than the tolerance, is
 * rejected with its own code (the others in the batch are unaffected).
 */
export function judgeEvent(
  raw: unknown,
  receivedAt: Date,
  policy: TimingPolicy = DEFAULT_TIMING,
  serializedBytes?: number,
): Judged<AcceptedEvent> {
  if (serializedBytes !== undefined && serializedBytes > MAX_EVENT_BYTES)
    return rejection(
      "event_too_large",
      `The event is ${serializedBytes} bytes; the limit is ${MAX_EVENT_BYTES}.`,
    );
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const id = (raw as { id?: unknown }).id;
    if (id === undefined || id === null || id === "")
      return rejection("missing_id", "Every event needs an id, so that a retry is counted once.");
  }
  const parsed = UsageEventInput.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join(".") || "(event)";
    return rejection("invalid_event", `${where}: ${issue?.message ?? "invalid"}`);
  }
  const timestamp = parsed.data.timestamp ? new Date(parsed.data.timestamp) : receivedAt;
  const age = receivedAt.getTime() - timestamp.getTime();
  if (age > policy.lateWindowMs)
    return rejection(
      "timestamp_too_old",
      `The event is older than the ${Math.round(policy.lateWindowMs / 3_600_000)}-hour late-arrival window.`,
    );
  if (-age > policy.futureToleranceMs)
    return rejection("timestamp_in_future", "The event's timestamp is in the future.");
  return { ok: true, value: { ...parsed.data, timestamp } };
}

export function idOf(raw: unknown): string | null {
  if (raw === null || typeof raw !== "object") return null;
  const id = (raw as { id?: unknown }).id;
  return typeof id === "string" ? id : null;
}
