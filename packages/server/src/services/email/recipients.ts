import { randomBytes } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { emailRecipients } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";

/**
 * The people Uptier mails, each with a random unsubscribe token (stored, so a link keeps working
 * without a signing key to configure or rotate) and their suppression: once someone unsubscribes,
 * no message is sent to the address again.
 */

/** An address as recipients are keyed: trimmed, in lower case. */
export const recipientKey = (address: string) => address.trim().toLowerCase();

/** The address's unsubscribe token and whether it is suppressed; the row is made on first use. */
export async function recipientOf(
  tx: Tx,
  address: string,
  at: Date,
): Promise<{ token: string; suppressed: boolean }> {
  const key = recipientKey(address);
  await tx
    .insert(emailRecipients)
    .values({ address: key, unsubscribeToken: randomBytes(24).toString("base64url"), createdAt: at })
    .onConflictDoNothing();
  const [row] = await tx.select().from(emailRecipients).where(eq(emailRecipients.address, key));
  if (!row) throw new Error(`the recipient ${key} was not stored`);
  return { token: row.unsubscribeToken, suppressed: row.suppressedAt !== null };
}

export type UnsubscribeVia = "link" | "one_click";

const unknownToken = () =>
  new DomainError(
    "unknown_unsubscribe_token",
    "This unsubscribe link is not one Uptier sent (check that it was copied whole).",
    { param: "token" },
  );

/** Whose link this is, for the confirmation page. */
export async function recipientByToken(db: Executor, token: string) {
  const [row] = await db.select().from(emailRecipients).where(eq(emailRecipients.unsubscribeToken, token));
  if (!row) throw unknownToken();
  return { address: row.address, suppressed: row.suppressedAt !== null };
}

/** Records the suppression; unsubscribing again changes nothing (the first record stands). */
export async function unsubscribe(db: Executor, token: string, via: UnsubscribeVia, at: Date) {
  const [row] = await db
    .update(emailRecipients)
    .set({ suppressedAt: at, suppressedVia: via })
    .where(and(eq(emailRecipients.unsubscribeToken, token), isNull(emailRecipients.suppressedAt)))
    .returning();
  if (row) return { address: row.address, suppressed: true };
  return recipientByToken(db, token);
}
