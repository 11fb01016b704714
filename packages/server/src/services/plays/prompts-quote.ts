import { isQuoteExpired, type QuotePlan, quoteLapsed, quotePeriod } from "@uptier/core";
import { eq } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { type OfferedChange, quotes } from "../../db/schema/index.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import { DomainError } from "../errors.ts";
import type { CatalogResolver, QuoteSetup } from "../quotes/billing-state.ts";
import { linesView, priceChange, type QuoteView, quoteView, resolveTarget } from "../quotes/quotes.ts";
import type { PromptRow } from "./prompts.ts";

/**
 * The quote a prompt offers. A prompt keeps the quote it showed while the checkout would still take
 * it — the checkout's own tests: not expired, the subscription at the same revision, the quote's
 * period not over, and the same change priced again at the quote's instant from the billing state
 * as it is now giving the same lines and amount — so a page load that finds nothing changed writes
 * nothing. Otherwise the offer is priced now, and a new quote is to be stored. The setup priced
 * from may be a cached one (prompts-numbers.ts): the new quote itself is priced again when stored.
 */
export type PromptQuote =
  /** the quote the prompt shows already: nothing to store */
  | { readonly kind: "kept"; readonly quote: QuoteView; readonly plan: QuotePlan }
  /** the change prices now, differently from the quote shown (or none was): a new quote is due */
  | { readonly kind: "new"; readonly plan: QuotePlan }
  /** no price: an offer of nothing, no subscription, or one the quote's rules refuse now */
  | { readonly kind: "none" };

/** A quote kept is offered only while it has this long to live: long enough to reach the checkout. */
const KEEP_MARGIN_MS = 60_000;

export async function promptQuote(
  db: Executor,
  priced: { readonly setup: QuoteSetup | null; readonly catalog: CatalogResolver },
  row: PromptRow,
  change: OfferedChange | null,
  at: Date,
): Promise<PromptQuote> {
  if (!change || !priced.setup) return { kind: "none" };
  try {
    const { record, state } = priced.setup;
    const { shape, target } = await resolveTarget(priced.catalog, record, {
      ...change,
      add_ons: change.add_ons?.map((a) => ({ ...a })),
    });
    const [stored] =
      row.quoteId && canonicalJson(row.offeredChange) === canonicalJson(change)
        ? await db.select().from(quotes).where(eq(quotes.id, row.quoteId))
        : [];
    if (
      stored &&
      stored.subscriptionId === record.id &&
      stored.subscriptionRevision === record.row.revision &&
      canonicalJson(stored.target) === canonicalJson(target) &&
      !isQuoteExpired(stored.expiresAt, new Date(at.getTime() + KEEP_MARGIN_MS)) &&
      !quoteLapsed(quotePeriod(record.row, record.shape.interval, stored.frozenAt).period, at)
    ) {
      const again = refusedAsNull(() => priceChange(state, shape, stored.frozenAt));
      const shown = (stored.view as { lines: unknown }).lines;
      if (
        again &&
        again.totals.amountDue === stored.amountDue &&
        canonicalJson(linesView(again)) === canonicalJson(shown)
      )
        return { kind: "kept", quote: quoteView(stored, at), plan: again };
    }
    return { kind: "new", plan: priceChange(state, shape, at) };
  } catch (error) {
    // an offer this subscription cannot take now (refused by the quote's rules) shows no price
    if (error instanceof DomainError) return { kind: "none" };
    throw error;
  }
}

function refusedAsNull<T>(price: () => T): T | null {
  try {
    return price();
  } catch (error) {
    if (error instanceof DomainError) return null;
    throw error;
  }
}
