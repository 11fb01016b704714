import {
  type Message,
  memberName,
  offerTexts,
  offerVariables,
  type Play,
  type QuotePlan,
  renderTemplate,
  renderTemplateText,
  stepMessage,
} from "@uptier/core";
import { and, eq } from "drizzle-orm";
import type { Db, Tx } from "../../db/client.ts";
import { members, promptInstances } from "../../db/schema/index.ts";
import { DomainError, notFound } from "../errors.ts";
import { createPricedQuote, type QuoteView } from "../quotes/quotes.ts";
import type { PlaybookSource } from "./evaluate.ts";
import { accountPrompts, type PromptRow, selectForUser } from "./prompts.ts";
import { offeredChange, offerOf } from "./prompts-offer.ts";
import { type AccountState, loadAccountState } from "./signals.ts";

/**
 * GET /v1/prompts: the prompt a placement shows a user now (cadence decides among the user's
 * prompts), its copy rendered with the numbers of a quote made now for the offered change, so the
 * prompt says exactly what accepting it (one checkout of that quote) charges.
 */

export interface PromptsQuery {
  readonly account: string;
  readonly user: string;
  readonly placement: string;
}

/** The active member with the vendor's user id, or 404. */
export async function promptMember(db: Db | Tx, account: string, user: string) {
  const [member] = await db
    .select()
    .from(members)
    .where(
      and(eq(members.accountId, account), eq(members.externalUserId, user), eq(members.status, "active")),
    );
  if (!member)
    throw new DomainError("resource_not_found", `No active member with user id "${user}" on this account.`, {
      param: "user",
    });
  return member;
}

export async function listPrompts(db: Db, source: PlaybookSource, query: PromptsQuery, at: Date) {
  const member = await promptMember(db, query.account, query.user);
  const playbook = await source(db);
  if (!playbook) return { object: "list" as const, data: [] };
  return db.transaction(async (tx) => {
    const prompts = await accountPrompts(tx, query.account, at);
    const selection = selectForUser(playbook, prompts, query.user, query.placement, at);
    const shown = selection.shown;
    if (!shown) return { object: "list" as const, data: [] };
    const row = prompts.rows.find((r) => r.id === shown.instance.id) as PromptRow;
    const play = playbook.plays.find((p) => p.id === row.play) as Play;
    const state = await loadAccountState(tx, query.account, playbook, at, { usageBefore: "same" });
    const view = await renderPrompt(tx, { row, play, state, member }, at);
    return { object: "list" as const, data: [view] };
  });
}

/** What a prompt or a play's message says to one member, with the numbers of a quote made now. */
export interface OfferCopyInput {
  readonly accountId: string;
  readonly play: Play;
  readonly variant: string | null;
  readonly action: "buy" | "ask_admin";
  readonly state: AccountState;
  readonly member: { readonly name: string | null; readonly email: string };
  readonly message: Message;
}

/**
 * The copy of an offer rendered for a member now: the change it sells, a quote made for it (null
 * when the subscription cannot take it now), and the title, body and call to action with the
 * quote's numbers. The quote is stored: accepting the offer is one checkout of it.
 */
export async function renderOffer(tx: Tx, input: OfferCopyInput, at: Date) {
  const { play, state } = input;
  const offer = offerOf(play, input.variant);
  const change = offeredChange(offer.change, state.record, state.catalog);
  let quote: { quote: QuoteView; plan: QuotePlan } | null = null;
  if (change && state.record) {
    try {
      quote = await tx.transaction((sp) =>
        createPricedQuote(
          sp,
          { account: input.accountId, ...change, add_ons: change.add_ons?.map((a) => ({ ...a })) },
          at,
          { type: "change" },
        ),
      );
    } catch (error) {
      // an offer this subscription cannot take now (refused by the quote's rules) shows no price
      if (!(error instanceof DomainError)) throw error;
    }
  }
  const feature =
    play.trigger.kind === "usage_ratio" ||
    play.trigger.kind === "limit_reached" ||
    play.trigger.kind === "feature_locked"
      ? play.trigger.feature
      : null;
  const reading = feature ? state.readings.get(feature) : undefined;
  const texts =
    state.record && state.catalog
      ? offerTexts(
          offerVariables({
            catalog: state.catalog,
            account: { name: state.name },
            member: { name: memberName(input.member) },
            subscription: {
              shape: state.record.shape,
              startedAt: state.record.row.createdAt,
              period: {
                start: state.signals.subscription?.periodStart ?? state.record.row.createdAt,
                end: state.signals.subscription?.periodEnd ?? at,
              },
            },
            seatsInUse: state.seatsInUse,
            usage:
              feature && reading && play.trigger.kind !== "feature_locked"
                ? { feature, used: reading.reading.used }
                : null,
            feature,
            quote: quote?.plan ?? null,
            bonus: offer.bonus ?? null,
            at,
          }),
        )
      : { "account.name": state.name, "member.name": memberName(input.member) };
  const { message } = input;
  const copy = (render: typeof renderTemplate) => ({
    title: render(message.title, texts),
    body: render(message.body, texts),
    cta: input.action === "ask_admin" ? "Ask your admin" : message.cta ? render(message.cta, texts) : null,
  });
  // HTML (every value escaped) for the app and an email's HTML part; plain for the text part
  return { rendered: copy(renderTemplate), plain: copy(renderTemplateText), change, quote };
}

async function renderPrompt(
  tx: Tx,
  input: { row: PromptRow; play: Play; state: AccountState; member: OfferCopyInput["member"] },
  at: Date,
) {
  const { row, play, state } = input;
  const askAdmin = row.action === "ask_admin";
  const { rendered, change, quote } = await renderOffer(
    tx,
    {
      accountId: row.accountId,
      play,
      variant: row.variant,
      action: askAdmin ? "ask_admin" : "buy",
      state,
      member: input.member,
      message: stepMessage(play, 0, row.variant) as Message,
    },
    at,
  );
  const [updated] = await tx
    .update(promptInstances)
    .set({ rendered, offeredChange: change, quoteId: quote?.quote.id ?? null })
    .where(eq(promptInstances.id, row.id))
    .returning();
  if (!updated) throw notFound("prompt", row.id);
  return {
    id: updated.id,
    object: "prompt" as const,
    account: updated.accountId,
    user: updated.userId,
    play: updated.play,
    cycle: updated.cycle,
    placement: updated.placement,
    state: updated.state,
    variant: updated.variant,
    action: askAdmin ? ("ask_admin" as const) : ("buy" as const),
    ...rendered,
    quote: quote?.quote ?? null,
    eligible_at: updated.eligibleAt.toISOString(),
    expires_at: updated.expiresAt?.toISOString() ?? null,
    shown_at: updated.shownAt?.toISOString() ?? null,
    clicked_at: updated.clickedAt?.toISOString() ?? null,
    dismissed_at: updated.dismissedAt?.toISOString() ?? null,
    snoozed_until: updated.snoozedUntil?.toISOString() ?? null,
  };
}
