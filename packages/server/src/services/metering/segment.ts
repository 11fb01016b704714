import type { EventResult, EventsBatchResponse } from "@uptier/core";
import { SegmentGroup, SegmentIdentify, SegmentTrack } from "@uptier/core/api";
import { inArray, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { segmentUserAccounts } from "../../db/schema/index.ts";
import { findJsonFlaw } from "../../lib/storable-json.ts";
import { assertBatchSize, type IncomingEvent, ingestEvents, reportableId } from "./ingest.ts";
import type { MeteringState } from "./metering-state.ts";

/**
 * Segment's HTTP Tracking API, mapped onto Uptier's usage events so an existing pipeline can
 * forward to Uptier (Segment's spec: https://segment.com/docs/connections/spec/):
 * - track → a usage event: messageId is the id, the account is `context.groupId` (Segment's B2B
 *   advice), else `properties.groupId`, else the group the user was last put in by a group call;
 * - group → remembers which account (groupId) the user belongs to;
 * - identify → the same when its traits name the company (`traits.company.id`, Segment's reserved
 *   trait) or a groupId; otherwise accepted with no effect;
 * - batch → each message judged on its own, with the batch's context as the default.
 * Segment's payloads carry many more fields (context, integrations, sentAt…): they are accepted.
 */
type Message = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v.length > 0 ? v : typeof v === "number" ? String(v) : undefined;

function userOf(m: Message): string | undefined {
  return str(m.userId) ?? str(m.anonymousId);
}

function groupFromTraits(traits: unknown): string | undefined {
  const t = (traits ?? {}) as Record<string, unknown>;
  return str((t.company as Record<string, unknown> | undefined)?.id) ?? str(t.groupId);
}

/** Handles Segment messages (already typed per endpoint, or from a batch) in one transaction. */
export async function ingestSegment(
  tx: Tx,
  state: MeteringState,
  messages: readonly { readonly message: unknown; readonly type: string | undefined }[],
  batchContext: Record<string, unknown> | undefined,
  receivedAt: Date,
): Promise<{ response: EventsBatchResponse; touched: ReadonlySet<string> }> {
  assertBatchSize(messages.length);
  let touched: ReadonlySet<string> = new Set<string>();
  const results: (EventResult | null)[] = messages.map(() => null);
  const reject = (
    index: number,
    message: string,
    id: string | null,
    code: NonNullable<EventResult["code"]> = "invalid_event",
  ) => {
    results[index] = { index, id, status: "rejected", code, message };
  };

  // 1. group and identify calls first, so a track in the same batch finds its user's group.
  const links = new Map<string, { group: string; index: number }>();
  const tracks: { index: number; m: Message }[] = [];
  for (const [index, { message, type }] of messages.entries()) {
    const m = (message ?? {}) as Message;
    const flaw = findJsonFlaw(message);
    if (flaw) {
      reject(index, `${flaw.param}: ${flaw.message}`, reportableId(str(m.messageId)), flaw.code);
      continue;
    }
    const id = str(m.messageId) ?? null;
    const kind = type ?? str(m.type);
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      reject(index, "A Segment message is a JSON object.", null);
      continue;
    }
    if (kind === "track") {
      const parsed = SegmentTrack.safeParse(m);
      if (!parsed.success) {
        reject(
          index,
          `track: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`,
          id,
        );
        continue;
      }
      tracks.push({ index, m });
      continue;
    }
    if (kind === "group" || kind === "identify") {
      const schema = kind === "group" ? SegmentGroup : SegmentIdentify;
      const parsed = schema.safeParse(m);
      if (!parsed.success) {
        reject(
          index,
          `${kind}: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`,
          id,
        );
        continue;
      }
      const user = userOf(m);
      const group = kind === "group" ? str(m.groupId) : groupFromTraits(m.traits);
      if (user && group) links.set(user, { group, index });
      results[index] = { index, id, status: "accepted" };
      continue;
    }
    reject(
      index,
      `Uptier takes track, identify and group calls; a "${kind ?? "untyped"}" call is not counted.`,
      id,
    );
  }

  if (links.size > 0) {
    const refs = await state.resolveAccounts(
      tx,
      [...links.values()].map((l) => l.group),
    );
    const unknown = [...links.values()].filter((l) => !refs.has(l.group)).map((l) => l.group);
    if (unknown.length > 0 && state.options.unknownAccounts === "create")
      for (const [ref, account] of await state.createAccounts(tx, unknown, receivedAt))
        refs.set(ref, account);
    const rows: { userId: string; accountId: string; updatedAt: Date }[] = [];
    for (const [user, link] of links) {
      const account = refs.get(link.group);
      if (!account) {
        results[link.index] = {
          index: link.index,
          id: results[link.index]?.id ?? null,
          status: "rejected",
          code: "unknown_account",
          message: `No account "${link.group}" (by id or external id).`,
        };
        continue;
      }
      rows.push({ userId: user, accountId: account.id, updatedAt: receivedAt });
    }
    if (rows.length > 0)
      await tx
        .insert(segmentUserAccounts)
        .values(rows.sort((a, b) => a.userId.localeCompare(b.userId)))
        .onConflictDoUpdate({
          target: segmentUserAccounts.userId,
          set: { accountId: sql`excluded.account_id`, updatedAt: sql`excluded.updated_at` },
        });
  }

  // 2. track calls become usage events.
  const needUser = tracks
    .filter(({ m }) => !groupOfTrack(m, batchContext))
    .map(({ m }) => userOf(m))
    .filter((u): u is string => u !== undefined && !links.has(u));
  const known = new Map<string, string>();
  if (needUser.length > 0) {
    const rows = await tx
      .select()
      .from(segmentUserAccounts)
      .where(inArray(segmentUserAccounts.userId, [...new Set(needUser)]));
    for (const r of rows) known.set(r.userId, r.accountId);
  }
  const incoming: IncomingEvent[] = tracks.map(({ m }) => {
    const user = userOf(m);
    const account =
      groupOfTrack(m, batchContext) ?? (user ? (links.get(user)?.group ?? known.get(user)) : undefined);
    const timestamp = str(m.timestamp) ?? str(m.originalTimestamp);
    return {
      raw: {
        id: str(m.messageId),
        account,
        ...(user ? { user } : {}),
        event: m.event,
        ...(timestamp ? { timestamp } : {}),
        properties: m.properties ?? {},
      },
      bytes: Buffer.byteLength(JSON.stringify(m)),
    };
  });
  if (incoming.length > 0) {
    const ingested = await ingestEvents(tx, state, incoming, receivedAt);
    const response = ingested.response;
    touched = ingested.touched;
    response.results.forEach((r, i) => {
      const track = tracks[i];
      if (!track) return;
      const noAccount = r.code === "invalid_event" && r.message?.startsWith("account");
      results[track.index] = noAccount
        ? {
            ...r,
            index: track.index,
            code: "unknown_account",
            message:
              "The track call names no account: set context.groupId, or send a group call for the user first.",
          }
        : { ...r, index: track.index };
    });
  }

  const final = results.map(
    (r, index) => r ?? { index, id: null, status: "rejected" as const, code: "invalid_event" as const },
  );
  return {
    response: {
      object: "event_batch",
      accepted: final.filter((r) => r.status === "accepted").length,
      duplicates: final.filter((r) => r.status === "duplicate").length,
      rejected: final.filter((r) => r.status === "rejected").length,
      results: final,
    },
    touched,
  };
}

function groupOfTrack(m: Message, batchContext: Record<string, unknown> | undefined): string | undefined {
  const context = (m.context ?? {}) as Record<string, unknown>;
  const properties = (m.properties ?? {}) as Record<string, unknown>;
  return str(context.groupId) ?? str(properties.groupId) ?? str(batchContext?.groupId);
}
