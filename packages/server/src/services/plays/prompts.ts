import {
  type CadenceCaps,
  type Playbook,
  type PromptCandidate,
  type PromptEvent,
  type PromptInstance,
  type PromptState,
  selectPrompts,
  transitionPrompt,
} from "@uptier/core";
import { and, eq, gt, inArray } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { promptEvents, promptInstances } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { DomainError, notFound } from "../errors.ts";

/**
 * Prompt records and their moves: the account's prompts as core's PromptInstance (their shows read
 * from prompt_events), cadence over them, and the SDK's events through core's transitionPrompt.
 */

export type PromptRow = typeof promptInstances.$inferSelect;

const DAY_MS = 86_400_000;
/** how far back impressions are read: the longest gap between shows a playbook may set (90 days) */
const SHOWS_HISTORY_DAYS = 91;

export function cadenceCaps(playbook: Playbook): CadenceCaps {
  const d = playbook.defaults;
  return {
    perUserPerDay: d.caps.per_user_per_day,
    perAccountPerWeek: d.caps.per_account_per_week,
    snoozeDays: d.snooze_days,
    minHoursBetweenShows: d.min_hours_between_shows,
  };
}

export function promptInstance(row: PromptRow, shows: readonly Date[]): PromptInstance {
  return {
    id: row.id,
    play: row.play,
    user: row.userId,
    cycle: row.cycle,
    state: row.state as PromptState,
    eligibleAt: row.eligibleAt,
    expiresAt: row.expiresAt,
    shows,
    snoozedUntil: row.snoozedUntil,
    stateAt: row.stateAt,
  };
}

export interface AccountPrompts {
  readonly rows: readonly PromptRow[];
  readonly instances: ReadonlyMap<string, PromptInstance>;
}

/** Every prompt of the account with its recent impressions. */
export async function accountPrompts(db: Executor, accountId: string, at: Date): Promise<AccountPrompts> {
  const rows = await db.select().from(promptInstances).where(eq(promptInstances.accountId, accountId));
  const since = new Date(at.getTime() - SHOWS_HISTORY_DAYS * DAY_MS);
  const shown =
    rows.length === 0
      ? []
      : await db
          .select({ prompt: promptEvents.promptId, at: promptEvents.at })
          .from(promptEvents)
          .where(
            and(
              eq(promptEvents.accountId, accountId),
              eq(promptEvents.type, "shown"),
              gt(promptEvents.at, since),
            ),
          );
  const shows = new Map<string, Date[]>();
  for (const s of shown) shows.set(s.prompt, [...(shows.get(s.prompt) ?? []), s.at]);
  const instances = new Map<string, PromptInstance>();
  for (const row of rows) {
    // the first show, kept on the row, outlives the window: month 6 escalates a month-3 nudge seen
    // more than 91 days before
    const first = row.shownAt && row.shownAt.getTime() <= since.getTime() ? [row.shownAt] : [];
    const recent = (shows.get(row.id) ?? []).sort((a, b) => a.getTime() - b.getTime());
    instances.set(row.id, promptInstance(row, [...first, ...recent]));
  }
  return { rows, instances };
}

/**
 * The user's candidates for a placement, with cadence's answer: prompts of enabled plays of the
 * playbook in force that speak in the app (a play only emailed or sent to a webhook has prompts
 * too, which no placement shows).
 */
export function selectForUser(
  playbook: Playbook,
  prompts: AccountPrompts,
  user: string,
  placement: string | null,
  at: Date,
) {
  const plays = new Map(
    playbook.plays.filter((p) => p.enabled && p.channels.includes("in_app")).map((p) => [p.id, p]),
  );
  const candidates: PromptCandidate[] = [];
  for (const row of prompts.rows) {
    const play = plays.get(row.play);
    if (!play || row.userId !== user || (placement !== null && row.placement !== placement)) continue;
    candidates.push({
      instance: prompts.instances.get(row.id) as PromptInstance,
      play: { id: play.id, priority: play.priority, escalates: play.escalates ?? null },
    });
  }
  return selectPrompts(candidates, [...prompts.instances.values()], cadenceCaps(playbook), at);
}

/** A prompt of the account, or 404 (another account's prompt is not found, as an unknown one). */
export async function findPrompt(db: Executor, accountId: string, id: string): Promise<PromptRow> {
  const [row] = await db
    .select()
    .from(promptInstances)
    .where(and(eq(promptInstances.id, id), eq(promptInstances.accountId, accountId)));
  if (!row) throw notFound("prompt", id);
  return row;
}

export function promptStateView(row: PromptRow) {
  return {
    id: row.id,
    object: "prompt" as const,
    play: row.play,
    state: row.state,
    shown_at: row.shownAt?.toISOString() ?? null,
    clicked_at: row.clickedAt?.toISOString() ?? null,
    dismissed_at: row.dismissedAt?.toISOString() ?? null,
    snoozed_until: row.snoozedUntil?.toISOString() ?? null,
  };
}

/**
 * Records what the user did with a prompt: core's transitionPrompt decides, and refuses an
 * impossible move with its code (prompt_not_shown, prompt_dismissed, …), which changes nothing.
 */
export async function recordPromptEvent(
  tx: Tx,
  playbook: Playbook | null,
  input: { readonly account: string; readonly id: string; readonly event: PromptEvent },
  at: Date,
) {
  const [row] = await tx
    .select()
    .from(promptInstances)
    .where(and(eq(promptInstances.id, input.id), eq(promptInstances.accountId, input.account)))
    .for("update");
  if (!row) throw notFound("prompt", input.id);
  const shows = await tx
    .select({ at: promptEvents.at })
    .from(promptEvents)
    .where(and(eq(promptEvents.promptId, row.id), inArray(promptEvents.type, ["shown"])));
  const instance = promptInstance(
    row,
    shows.map((s) => s.at).sort((a, b) => a.getTime() - b.getTime()),
  );
  const snoozeDays = playbook?.defaults.snooze_days;
  const moved = transitionPrompt(instance, input.event, at, snoozeDays);
  if (!moved.ok) throw new DomainError(moved.code, moved.message, { param: "type" });
  const next = moved.instance;
  const type = input.event.type;
  const [updated] = await tx
    .update(promptInstances)
    .set({
      state: next.state,
      stateAt: next.stateAt,
      snoozedUntil: next.snoozedUntil,
      ...(type === "shown" && !row.shownAt ? { shownAt: at } : {}),
      ...(type === "clicked" ? { clickedAt: at } : {}),
      ...(type === "dismissed" ? { dismissedAt: at } : {}),
    })
    .where(eq(promptInstances.id, row.id))
    .returning();
  await tx
    .insert(promptEvents)
    .values({ id: newId("promptEvent", at), promptId: row.id, accountId: row.accountId, type, at });
  return promptStateView(updated as PromptRow);
}
