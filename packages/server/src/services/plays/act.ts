import {
  type Channel,
  followUpOf,
  matchAudience,
  OPEN_STATES,
  type Play,
  type PromptState,
  playSteps,
  type StepVerdict,
  stepMessage,
  stepVerdict,
  triggerHolds,
} from "@uptier/core";
import type { PlayStepPayload } from "@uptier/core/api";
import { and, count, eq, gt, inArray, like, lte, sql } from "drizzle-orm";
import type { Db, Tx } from "../../db/client.ts";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import { checkouts, emailMessages, playActions, promptInstances } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import type { Clock } from "../context.ts";
import { queueEmail } from "../email/outbox.ts";
import { recordEvent } from "../events/append.ts";
import type { PlaybookSource } from "./evaluate.ts";
import { type CopyFacts, offerCopy, priceOffer } from "./offer-copy.ts";
import { playEmail } from "./play-email.ts";
import { offeredChange, offerOf } from "./prompts-offer.ts";
import { type AccountState, loadAccountState, type PromptMember } from "./signals.ts";

/**
 * Runs a play's due step (steps.ts): checks again whether it should act (core's stepVerdict: the
 * account converted, the prompt was answered, the moment is gone), and if so sends it on its
 * channels, all in one transaction with the step's record, so a step acts once. Email goes to the
 * audience's buyers (admins), each with the copy rendered for them; the webhook and CRM-task
 * channels are domain events (`play.webhook`, `crm_task.created`); an in-app follow-up keeps the
 * firing's open prompts on offer for another `expires_after_days`.
 */

export interface StepRunnerContext {
  readonly db: Db;
  readonly clock: Clock;
  readonly playbook: PlaybookSource;
  /** the vendor's app, where an email's call to action leads (UPTIER_APP_URL) */
  readonly appUrl?: string | null;
  /** told after a step queued email, to send it now rather than at the mailer's next poll */
  readonly emailQueued?: () => void;
  /**
   * The test clock whose accounts' steps this runner acts on (its advance); absent, the steps of
   * accounts on no clock, in real time. A step of another scope is left scheduled for its own.
   */
  readonly testClock?: string;
}

/** The prefix of a play email's outbox key: `play-step:<step>:<member>`. */
const PLAY_EMAIL_KEY = "play-step:";
const DAY_MS = 86_400_000;

export type StepOutcome =
  | { readonly status: "done"; readonly channels: readonly Channel[]; readonly emails: number }
  | { readonly status: "skipped" | "canceled"; readonly reason: string }
  /** already run, canceled, or unknown, or its account's clock runs it: nothing to do here */
  | { readonly status: "not_scheduled" };

export async function runPlayStep(ctx: StepRunnerContext, id: string): Promise<StepOutcome> {
  const at = ctx.clock();
  const outcome = await ctx.db.transaction(async (tx): Promise<StepOutcome> => {
    const [row] = await tx
      .select()
      .from(playActions)
      .where(and(eq(playActions.id, id), accountInScope(playActions.accountId, ctx.testClock)))
      .for("update");
    if (row?.status !== "scheduled") return { status: "not_scheduled" };
    const playbook = await ctx.playbook(tx);
    const play = playbook?.plays.find((p) => p.id === row.play);
    if (!playbook || !play) return finish(tx, row.id, at, skipped("the play is no longer in force"));
    const [state, prompts, convertedSince] = await Promise.all([
      loadAccountState(tx, row.accountId, playbook, at, { usageBefore: "same" }),
      tx
        .select({ id: promptInstances.id, user: promptInstances.userId, state: promptInstances.state })
        .from(promptInstances)
        .where(
          and(
            eq(promptInstances.play, row.play),
            eq(promptInstances.accountId, row.accountId),
            eq(promptInstances.cycle, row.cycle),
          ),
        ),
      checkoutSucceededSince(tx, row.accountId, row.firedAt, at),
    ]);
    const audience = audienceOf(play, state);
    const verdict = stepVerdict({
      play,
      step: row.step,
      prompts: prompts.map((p) => p.state as PromptState),
      convertedSince,
      condition:
        row.step === 0
          ? { holds: true, reason: "the play fired" }
          : triggerHolds(play.trigger, state.signals, row.cycle, seatsOf(state)),
      audience: audience.length > 0,
    });
    if (!verdict.act) return finish(tx, row.id, at, verdict);
    const channels = stepChannels(play, row.step, at);
    const emailCap = playbook.defaults.caps.per_user_per_day;
    // one quote for the step's offer, whichever channels and members its copy goes to
    const change = offeredChange(offerOf(play, row.variant).change, state.record, state.catalog);
    const offer = state.record ? await priceOffer(tx, row.accountId, change, at) : null;
    const step = { ...row, play, reason: verdict.reason, prompts, audience, state, emailCap, offer };
    let emails = 0;
    const sent: Channel[] = [];
    for (const channel of channels) {
      if (channel === "email") {
        const queued = await sendEmails(tx, ctx, step, at);
        emails += queued;
        if (queued > 0) sent.push(channel);
        continue;
      }
      if (channel === "webhook" || channel === "crm_task") await recordStepEvent(tx, channel, step, at);
      else await keepPromptsOnOffer(tx, step, at);
      sent.push(channel);
    }
    await tx
      .update(playActions)
      .set({ status: "done", reason: verdict.reason, sent, doneAt: at })
      .where(eq(playActions.id, row.id));
    return { status: "done", channels: sent, emails };
  });
  if (outcome.status === "done" && outcome.emails > 0) ctx.emailQueued?.();
  return outcome;
}

/** Every scheduled step of the runner's scope due by `at`, in order (tests, the test clocks' advance). */
export async function runDueSteps(ctx: StepRunnerContext, at: Date): Promise<StepOutcome[]> {
  const due = await ctx.db
    .select({ id: playActions.id })
    .from(playActions)
    .where(
      and(
        eq(playActions.status, "scheduled"),
        lte(playActions.dueAt, at),
        accountInScope(playActions.accountId, ctx.testClock),
      ),
    )
    .orderBy(playActions.dueAt, playActions.id);
  const outcomes: StepOutcome[] = [];
  for (const { id } of due) outcomes.push(await runPlayStep(ctx, id));
  return outcomes;
}

type StepRow = typeof playActions.$inferSelect;
interface DueStep extends Omit<StepRow, "play"> {
  readonly play: Play;
  readonly reason: string;
  readonly prompts: readonly { id: string; user: string; state: string }[];
  readonly audience: readonly (PromptMember & { action: "buy" | "ask_admin" })[];
  readonly state: AccountState;
  /** the most play emails a member gets in 24 hours (the playbook's per-user daily cap) */
  readonly emailCap: number;
  /** the quote the step's copy names (null: nothing priced) */
  readonly offer: Awaited<ReturnType<typeof priceOffer>>;
}

const skipped = (reason: string): StepVerdict => ({ act: false, status: "skipped", reason });

async function finish(tx: Tx, id: string, at: Date, verdict: StepVerdict): Promise<StepOutcome> {
  if (verdict.act) throw new Error("finish() records a step that does not act");
  await tx
    .update(playActions)
    .set({ status: verdict.status, reason: verdict.reason, doneAt: at })
    .where(eq(playActions.id, id));
  return { status: verdict.status, reason: verdict.reason };
}

/** A checkout of the account succeeded after the play fired (up to now). */
async function checkoutSucceededSince(tx: Tx, accountId: string, since: Date, at: Date): Promise<boolean> {
  const [found] = await tx
    .select({ one: sql<number>`1` })
    .from(checkouts)
    .where(
      and(
        eq(checkouts.accountId, accountId),
        eq(checkouts.status, "succeeded"),
        gt(checkouts.completedAt, since),
        lte(checkouts.completedAt, at),
      ),
    )
    .limit(1);
  return found !== undefined;
}

/** The members the play speaks to now, buyers (admins) first. */
function audienceOf(play: Play, state: AccountState) {
  const matched = state.members.flatMap((m) => {
    const match = matchAudience(play.audience, state.signals, m);
    return match.matched ? [{ ...m, action: match.action }] : [];
  });
  return matched.sort((a, b) => Number(a.action !== "buy") - Number(b.action !== "buy"));
}

const seatsOf = (state: AccountState) =>
  state.record ? { quantity: state.record.row.seats, inUse: state.seatsInUse } : undefined;

function stepChannels(play: Play, step: number, at: Date): readonly Channel[] {
  if (step === 0) return playSteps(play, at)[0]?.channels ?? [];
  return followUpOf(play, step)?.channels ?? [];
}

/** The step's copy for a member, with the numbers of the step's quote. */
function copyFor(step: DueStep, member: DueStep["audience"][number], at: Date) {
  const { state, play, offer: quote } = step;
  const facts: CopyFacts = {
    name: state.name,
    catalog: state.catalog,
    record: state.record,
    seatsInUse: state.seatsInUse,
    used: (feature) => state.readings.get(feature)?.reading.used,
  };
  const message = stepMessage(play, step.step, step.variant) ?? play.message;
  const copy = offerCopy(
    { play, variant: step.variant, action: member.action, message, member },
    facts,
    quote?.plan ?? null,
    at,
  );
  return { ...copy, quote };
}

/**
 * One email per buyer (an admin the audience holds), once per step and member, and no more play
 * emails to one address in 24 hours than the playbook's per-user daily cap (the steps' jobs run
 * in the order of their plays' priorities, so the most important message is the one sent).
 */
async function sendEmails(tx: Tx, ctx: StepRunnerContext, step: DueStep, at: Date): Promise<number> {
  let sent = 0;
  for (const member of step.audience) {
    if (member.action !== "buy") continue;
    if ((await playEmailsTo(tx, member.email, at)) >= step.emailCap) continue;
    const copy = copyFor(step, member, at);
    const prompt = step.prompts.find((p) => p.user === member.user)?.id ?? null;
    const email = playEmail(copy, { appUrl: ctx.appUrl ?? null, prompt });
    const queued = await queueEmail(
      tx,
      {
        key: `${PLAY_EMAIL_KEY}${step.id}:${member.id}`,
        to: member.email,
        account: step.accountId,
        ...email,
      },
      at,
    );
    if (!queued.duplicate) sent++;
  }
  return sent;
}

async function playEmailsTo(tx: Tx, address: string, at: Date): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(emailMessages)
    .where(
      and(
        sql`lower(${emailMessages.to}) = lower(${address})`,
        like(emailMessages.key, `${PLAY_EMAIL_KEY}%`),
        gt(emailMessages.createdAt, new Date(at.getTime() - DAY_MS)),
      ),
    );
  return row?.n ?? 0;
}

async function recordStepEvent(tx: Tx, channel: "webhook" | "crm_task", step: DueStep, at: Date) {
  const first = step.audience[0];
  const copy = first ? copyFor(step, first, at) : null;
  const payload: PlayStepPayload = {
    play: step.play.id,
    cycle: step.cycle,
    step: step.step,
    variant: step.variant,
    reason: step.reason,
    title: copy?.plain.title ?? "",
    body: copy?.plain.body ?? "",
    cta: copy?.plain.cta ?? null,
    offer: copy?.quote
      ? {
          quote: copy.quote.quote.id,
          amount_due: copy.quote.quote.amount_due,
          currency: copy.quote.quote.currency,
        }
      : null,
    members: step.audience.map((m) => ({ user: m.user, email: m.email, role: m.role })),
  };
  if (channel === "webhook")
    await recordEvent(tx, { type: "play.webhook", accountId: step.accountId, data: payload, at });
  else
    await recordEvent(tx, {
      type: "crm_task.created",
      accountId: step.accountId,
      data: { ...payload, task: newId("crmTask", at) },
      at,
    });
}

/** An in-app follow-up: the firing's open prompts stay on offer for the play's expiry again. */
async function keepPromptsOnOffer(tx: Tx, step: DueStep, at: Date) {
  const open = step.prompts.filter((p) => OPEN_STATES.has(p.state as PromptState));
  if (open.length === 0) return;
  await tx
    .update(promptInstances)
    .set({ expiresAt: new Date(at.getTime() + step.play.expires_after_days * DAY_MS) })
    .where(
      inArray(
        promptInstances.id,
        open.map((p) => p.id),
      ),
    );
}
