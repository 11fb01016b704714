import { type Message, type Play, type QuotePlan, stepMessage } from "@uptier/core";
import { and, eq } from "drizzle-orm";
import type { Db, Tx } from "../../db/client.ts";
import { members, type OfferedChange, promptInstances, type RenderedCopy } from "../../db/schema/index.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { DomainError } from "../errors.ts";
import { catalogOf } from "../quotes/billing-state.ts";
import type { QuoteView } from "../quotes/quotes.ts";
import type { PlaybookSource } from "./evaluate.ts";
import { type CopyFacts, offerCopy, priceOffer } from "./offer-copy.ts";
import { accountPrompts, type PromptRow, selectForUser } from "./prompts.ts";
import { type PromptNumbers, type PromptReads, promptNumbers } from "./prompts-numbers.ts";
import { offeredChange, offerOf } from "./prompts-offer.ts";
import { promptQuote } from "./prompts-quote.ts";

/**
 * GET /v1/prompts: the prompt a placement shows a user now (cadence decides among the user's
 * prompts), its copy rendered with the numbers of the quote it offers for the offered change, so
 * the prompt says exactly what accepting it (one checkout of that quote) charges. The prompt row
 * keeps the copy and the quote last shown (attribution reads its quote_id); a request that finds
 * both unchanged writes nothing (prompts-quote.ts says when a quote is kept).
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

const NONE = { object: "list" as const, data: [] };
/** a request that lost a race to save the prompt asks again this many times, then saves anyway */
const ATTEMPTS = 3;

export async function listPrompts(
  db: Db,
  source: PlaybookSource,
  reads: PromptReads,
  query: PromptsQuery,
  at: Date,
) {
  const [member, playbook] = await Promise.all([promptMember(db, query.account, query.user), source(db)]);
  if (!playbook) return NONE;
  for (let attempt = 1; ; attempt++) {
    const prompts = await accountPrompts(db, query.account, at);
    const shown = selectForUser(playbook, prompts, query.user, query.placement, at).shown;
    if (!shown) return NONE;
    const row = prompts.rows.find((r) => r.id === shown.instance.id) as PromptRow;
    const play = playbook.plays.find((p) => p.id === row.play) as Play;
    const numbers = await promptNumbers(db, reads, query.account, at);
    const copy = { row, play, numbers, member };
    const change = offeredChange(
      offerOf(play, row.variant).change,
      numbers.setup?.record ?? null,
      numbers.catalog,
    );
    const quote = await promptQuote(
      db,
      { setup: numbers.setup, catalog: catalogOf(reads.setups) },
      row,
      change,
      at,
    );
    if (quote.kind !== "new") {
      const kept = quote.kind === "kept" ? quote : null;
      const rendered = renderCopy(copy, kept?.plan ?? null, at);
      if (
        (row.quoteId ?? null) === (kept?.quote.id ?? null) &&
        canonicalJson(row.rendered) === canonicalJson(rendered) &&
        canonicalJson(row.offeredChange) === canonicalJson(change)
      )
        return { object: "list" as const, data: [promptView(row, rendered, kept?.quote ?? null)] };
    }
    const saved = await db.transaction((tx) =>
      savePrompt(tx, copy, change, quote.kind === "kept" ? quote : null, attempt < ATTEMPTS, at),
    );
    if (saved) return { object: "list" as const, data: [saved] };
  }
}

interface CopyInput {
  readonly row: PromptRow;
  readonly play: Play;
  readonly numbers: PromptNumbers;
  readonly member: { readonly name: string | null; readonly email: string };
}

/**
 * Stores the prompt's copy, change and quote — a new quote unless `kept` is given — unless
 * `onlyIfUnmoved` and another request changed its quote since it was read (null: ask again).
 */
async function savePrompt(
  tx: Tx,
  input: CopyInput,
  change: OfferedChange | null,
  kept: { quote: QuoteView; plan: QuotePlan } | null,
  onlyIfUnmoved: boolean,
  at: Date,
) {
  const { row } = input;
  const [locked] = await tx
    .select({ quoteId: promptInstances.quoteId })
    .from(promptInstances)
    .where(eq(promptInstances.id, row.id))
    .for("update");
  if (!locked || (onlyIfUnmoved && locked.quoteId !== row.quoteId)) return null;
  const quote = kept ?? (input.numbers.setup ? await priceOffer(tx, row.accountId, change, at) : null);
  const rendered = renderCopy(input, quote?.plan ?? null, at);
  const [updated] = await tx
    .update(promptInstances)
    .set({ rendered, offeredChange: change, quoteId: quote?.quote.id ?? null })
    .where(eq(promptInstances.id, row.id))
    .returning();
  return updated ? promptView(updated, rendered, quote?.quote ?? null) : null;
}

/** The copy, rendered (HTML-escaped) from the numbers of the account now and of the quote offered. */
function renderCopy(input: CopyInput, quote: QuotePlan | null, at: Date): RenderedCopy {
  const { row, play, numbers } = input;
  const facts: CopyFacts = {
    name: numbers.name,
    catalog: numbers.catalog,
    record: numbers.setup?.record ?? null,
    seatsInUse: numbers.seatsInUse,
    used: (feature) => numbers.used.get(feature),
  };
  const action = row.action === "ask_admin" ? "ask_admin" : "buy";
  const message = stepMessage(play, 0, row.variant) as Message;
  return offerCopy({ play, variant: row.variant, action, message, member: input.member }, facts, quote, at)
    .html;
}

function promptView(row: PromptRow, rendered: RenderedCopy, quote: QuoteView | null) {
  return {
    id: row.id,
    object: "prompt" as const,
    account: row.accountId,
    user: row.userId,
    play: row.play,
    cycle: row.cycle,
    placement: row.placement,
    state: row.state,
    variant: row.variant,
    action: row.action === "ask_admin" ? ("ask_admin" as const) : ("buy" as const),
    ...rendered,
    quote,
    eligible_at: row.eligibleAt.toISOString(),
    expires_at: row.expiresAt?.toISOString() ?? null,
    shown_at: row.shownAt?.toISOString() ?? null,
    clicked_at: row.clickedAt?.toISOString() ?? null,
    dismissed_at: row.dismissedAt?.toISOString() ?? null,
    snoozed_until: row.snoozedUntil?.toISOString() ?? null,
  };
}
