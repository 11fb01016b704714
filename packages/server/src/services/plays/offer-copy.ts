import {
  type Message,
  memberName,
  offerTexts,
  offerVariables,
  type Play,
  type QuotePlan,
  type ResolvedCatalog,
  renderTemplate,
  renderTemplateText,
} from "@uptier/core";
import type { Tx } from "../../db/client.ts";
import type { OfferedChange, RenderedCopy } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";
import { createPricedQuote, type QuoteView } from "../quotes/quotes.ts";
import type { SubscriptionRecord } from "../subscriptions/records.ts";
import { offerOf } from "./prompts-offer.ts";

/**
 * A play's copy for one member, with the numbers of the account now and of the quote the offer is
 * priced at: the prompt route renders it from the server's caches (prompts-numbers.ts), a play's
 * email and events from the evaluation's snapshot (signals.ts); both through here.
 */

/** What the copy reads of an account. */
export interface CopyFacts {
  readonly name: string;
  readonly catalog: ResolvedCatalog | null;
  /** the live subscription; null without one (the copy then has no plan numbers) */
  readonly record: SubscriptionRecord | null;
  readonly seatsInUse: number;
  /** a feature's usage now (undefined: none recorded) */
  used(feature: string): number | undefined;
}

export interface CopyRequest {
  readonly play: Play;
  readonly variant: string | null;
  readonly action: "buy" | "ask_admin";
  readonly message: Message;
  readonly member: { readonly name: string | null; readonly email: string };
}

/** The copy rendered twice: HTML (every value escaped) for the app and email, plain for a text part. */
export function offerCopy(
  request: CopyRequest,
  facts: CopyFacts,
  quote: QuotePlan | null,
  at: Date,
): { readonly html: RenderedCopy; readonly plain: RenderedCopy } {
  const { play, message } = request;
  const feature =
    play.trigger.kind === "usage_ratio" ||
    play.trigger.kind === "limit_reached" ||
    play.trigger.kind === "feature_locked"
      ? play.trigger.feature
      : null;
  const used = feature ? facts.used(feature) : undefined;
  const { record } = facts;
  const name = memberName(request.member);
  const texts =
    record && facts.catalog
      ? offerTexts(
          offerVariables({
            catalog: facts.catalog,
            account: { name: facts.name },
            member: { name },
            subscription: {
              shape: record.shape,
              startedAt: record.row.createdAt,
              period: {
                start: record.state.currentPeriodStart ?? record.row.createdAt,
                end: record.state.currentPeriodEnd ?? record.row.createdAt,
              },
            },
            seatsInUse: facts.seatsInUse,
            usage:
              feature && used !== undefined && play.trigger.kind !== "feature_locked"
                ? { feature, used }
                : null,
            feature,
            quote,
            bonus: offerOf(play, request.variant).bonus ?? null,
            at,
          }),
        )
      : { "account.name": facts.name, "member.name": name };
  const copy = (render: typeof renderTemplate): RenderedCopy => ({
    title: render(message.title, texts),
    body: render(message.body, texts),
    cta: request.action === "ask_admin" ? "Ask your admin" : message.cta ? render(message.cta, texts) : null,
  });
  return { html: copy(renderTemplate), plain: copy(renderTemplateText) };
}

/**
 * A stored quote for the offered change, so accepting the offer is one checkout of it; null when
 * there is nothing to price or the subscription cannot take the change now (the quote's rules
 * refuse it: the copy then shows no price).
 */
export async function priceOffer(
  tx: Tx,
  accountId: string,
  change: OfferedChange | null,
  at: Date,
): Promise<{ quote: QuoteView; plan: QuotePlan } | null> {
  if (!change) return null;
  try {
    return await tx.transaction((sp) =>
      createPricedQuote(
        sp,
        { account: accountId, ...change, add_ons: change.add_ons?.map((a) => ({ ...a })) },
        at,
        { type: "change" },
      ),
    );
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return null;
  }
}
