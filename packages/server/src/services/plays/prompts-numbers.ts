import type { ResolvedCatalog } from "@uptier/core";
import { eq } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { accounts } from "../../db/schema/index.ts";
import { DomainError, notFound } from "../errors.ts";
import type { MeteringState } from "../metering/metering-state.ts";
import { loadCatalogOnSale, loadQuoteSetup, type QuoteSetup } from "../quotes/billing-state.ts";
import { BillingStateCache } from "../quotes/billing-state-cache.ts";

/**
 * What GET /v1/prompts reads of an account to render a prompt, from the server's in-memory state
 * where it can: the entitlements and the catalog from the metering cache (as POST /v1/check), the
 * subscription and its billing state from a billing-state cache (as POST /v1/quotes). Both follow
 * the domain-event log, so a change is seen at once on this node and within a poll on another; a
 * quote a prompt offers is re-checked by the checkout all the same (quote_stale), so a stale read
 * can show an outdated number, never charge one.
 */
export interface PromptNumbers {
  readonly name: string;
  readonly catalog: ResolvedCatalog | null;
  /** the live subscription and what a quote of it is priced from; null without one */
  readonly setup: QuoteSetup | null;
  readonly seatsInUse: number;
  /** a feature's usage now, by feature key (features without usage are absent) */
  readonly used: ReadonlyMap<string, number>;
}

export interface PromptReads {
  readonly metering: MeteringState;
  readonly setups: BillingStateCache<QuoteSetup>;
}

/** The caches the prompt routes read through, kept fresh by the metering state's invalidations. */
export function promptReads(db: Db, metering: MeteringState): PromptReads {
  const setups = new BillingStateCache<QuoteSetup>(
    (accountId, at) => loadQuoteSetup(db, accountId, at),
    () => loadCatalogOnSale(db),
  );
  metering.subscribe((change) =>
    "all" in change ? setups.invalidateAll() : setups.invalidate(change.accounts),
  );
  return { metering, setups };
}

export async function promptNumbers(
  db: Db,
  reads: PromptReads,
  accountId: string,
  at: Date,
): Promise<PromptNumbers> {
  const [account] = await db
    .select({ id: accounts.id, externalId: accounts.externalId, name: accounts.name })
    .from(accounts)
    .where(eq(accounts.id, accountId));
  if (!account) throw notFound("account", accountId);
  const [computed, snapshot, setup] = await Promise.all([
    reads.metering.entitlements({ id: account.id, externalId: account.externalId }),
    reads.metering.catalog(),
    reads.setups.setup(accountId, at).catch((error: unknown) => {
      // no live subscription: the copy has no plan numbers and the offer no price
      if (error instanceof DomainError) return null;
      throw error;
    }),
  ]);
  const used = new Map<string, number>();
  for (const f of Object.values(computed.view.features)) if (f.used !== null) used.set(f.feature, f.used);
  return {
    name: account.name,
    catalog: snapshot?.catalog ?? null,
    setup,
    seatsInUse: setup?.state.seatsInUse ?? computed.usage.seats,
    used,
  };
}
