import type { LedgerPosting } from "@uptier/core";
import type { Tx } from "../../db/client.ts";
import { ledgerEntries } from "../../db/schema/index.ts";

/**
 * Posting to the ledger. Double entry: every posting's entries sum to 0 (core's invoices/totals.ts
 * builds them); one that does not is a bug, refused here before anything is written, whoever
 * writes it (a posting of its own, or rows in a checkout batch's statement).
 */
export function balancedEntries(source: string, entries: readonly LedgerPosting[]): readonly LedgerPosting[] {
  const total = entries.reduce((s, e) => s + e.amount, 0);
  if (total !== 0) throw new Error(`ledger posting ${source} does not balance: ${total}`);
  return entries;
}

/** Where a posting belongs: the account, its name (`source`, unique with the ledger account), what it is for. */
export interface Posting {
  readonly accountId: string;
  readonly source: string;
  readonly invoiceId?: string;
  readonly checkoutId?: string;
  readonly currency: string;
  readonly at: Date;
}

export async function postLedger(tx: Tx, posting: Posting, entries: readonly LedgerPosting[]): Promise<void> {
  if (entries.length === 0) return;
  await tx.insert(ledgerEntries).values(
    balancedEntries(posting.source, entries).map((e) => ({
      accountId: posting.accountId,
      source: posting.source,
      invoiceId: posting.invoiceId ?? null,
      checkoutId: posting.checkoutId ?? null,
      ledgerAccount: e.ledgerAccount,
      amount: e.amount,
      currency: posting.currency,
      createdAt: posting.at,
    })),
  );
}
