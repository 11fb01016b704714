import { z } from "zod";
import { EventsBatchInput, UsageEventInput } from "../../metering/events.ts";
import { IsoInstant } from "../../periods/instant.ts";
import { ResourceId } from "./common.ts";

/*
 * Checks, gauges and usage events are defined beside the rules that read them (core's
 * entitlements and metering: a batch's events are parsed one by one there); they are part of the
 * contract all the same.
 */
export { CheckInput, GaugeInput } from "../../entitlements/api.ts";
export { EventsBatchInput, UsageEventInput };

/** One usage event, or a batch of them. */
export const RecordEventsBody = z.union([EventsBatchInput, UsageEventInput]);

export const FeatureParams = z
  .object({ id: ResourceId, feature: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "is not a feature key") })
  .strict();

/** Entitlements by account id or by the vendor's external id. */
export const EntitlementsQuery = z.object({ account: z.string().min(1).max(255) }).strict();

/**
 * Segment's HTTP Tracking API (https://segment.com/docs/connections/spec/). Segment's payloads
 * carry many more fields (context, integrations, sentAt…): they are accepted.
 */
const SegmentId = z.string().min(1).max(255);
const SegmentCommon = {
  messageId: SegmentId.optional(),
  userId: SegmentId.optional(),
  anonymousId: SegmentId.optional(),
  timestamp: IsoInstant.optional(),
  originalTimestamp: IsoInstant.optional(),
  context: z.record(z.string(), z.unknown()).optional(),
};
/** Segment's rule: every call names a userId or an anonymousId. */
const identified = (m: { userId?: string | undefined; anonymousId?: string | undefined }) =>
  m.userId !== undefined || m.anonymousId !== undefined;
const NEEDS_USER = { message: "a userId or an anonymousId is required", path: ["userId"] };

export const SegmentTrack = z
  .looseObject({
    ...SegmentCommon,
    type: z.literal("track").optional(),
    event: z.string().min(1).max(200),
    properties: z.record(z.string(), z.unknown()).optional(),
  })
  .refine(identified, NEEDS_USER);
export const SegmentIdentify = z
  .looseObject({
    ...SegmentCommon,
    type: z.literal("identify").optional(),
    traits: z.record(z.string(), z.unknown()).optional(),
  })
  .refine(identified, NEEDS_USER);
export const SegmentGroup = z
  .looseObject({
    ...SegmentCommon,
    type: z.literal("group").optional(),
    groupId: SegmentId,
    traits: z.record(z.string(), z.unknown()).optional(),
  })
  .refine(identified, NEEDS_USER);
export const SegmentBatch = z.looseObject({
  batch: z.array(z.unknown()).min(1),
  context: z.record(z.string(), z.unknown()).optional(),
});
