import { eq } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { emailMessages } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { DomainError } from "../errors.ts";
import { recipientOf } from "./recipients.ts";

/** A message to send: its key makes it once-only (the same key again is the same message). */
export interface EmailToSend {
  /** e.g. `play:seat-limit:acct_…:mbr_…:2026-01`; at most 500 characters */
  readonly key: string;
  readonly to: string;
  readonly subject: string;
  readonly html: string;
  readonly text: string;
  /** the account the message is about, if any */
  readonly account?: string | null;
}

/** sent; queued (waiting for a first send or a retry); suppressed (unsubscribed); failed (given up) */
export type EmailStatus = "sent" | "queued" | "suppressed" | "failed";

export interface EmailOutcome {
  readonly id: string;
  readonly status: EmailStatus;
  /** the key was queued before: nothing new was written */
  readonly duplicate: boolean;
}

/** One address, no display name, nothing that could break out of a header. */
const ADDRESS = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+\.[^\s@<>()",;:\\[\]]+$/;
/** Text PostgreSQL stores as given. */
const storable = (text: string) => text.isWellFormed() && !text.includes("\u0000");

function check(email: EmailToSend): void {
  const refuse = (param: string, message: string) => {
    throw new DomainError("invalid_email", message, { param });
  };
  if (email.key.length === 0 || email.key.length > 500)
    refuse("key", "The message key must be 1 to 500 characters.");
  if (email.to.length > 320 || !ADDRESS.test(email.to.trim()))
    refuse("to", `"${email.to}" is not an email address.`);
  if (email.subject.length > 998 || /[\r\n]/.test(email.subject))
    refuse("subject", "The subject must be one line of at most 998 characters.");
  for (const [param, value] of Object.entries({
    key: email.key,
    subject: email.subject,
    html: email.html,
    text: email.text,
  }))
    if (!storable(value)) refuse(param, `The ${param} holds a NUL or a lone surrogate.`);
}

/**
 * Queues a message in the caller's transaction (the outbox): it is sent after the commit by the
 * mailer's worker, once, and retried if the SMTP server fails. A message to a suppressed address
 * is recorded as `suppressed` and never sent. Queueing a key again answers the first message.
 */
export async function queueEmail(tx: Tx, email: EmailToSend, at: Date): Promise<EmailOutcome> {
  check(email);
  const recipient = await recipientOf(tx, email.to, at);
  const id = newId("emailMessage", at);
  const [inserted] = await tx
    .insert(emailMessages)
    .values({
      id,
      key: email.key,
      accountId: email.account ?? null,
      to: email.to.trim(),
      subject: email.subject,
      html: email.html,
      text: email.text,
      status: recipient.suppressed ? "suppressed" : "queued",
      nextAttemptAt: recipient.suppressed ? null : at,
      createdAt: at,
    })
    .onConflictDoNothing()
    .returning({ id: emailMessages.id, status: emailMessages.status });
  if (inserted) return { id: inserted.id, status: inserted.status, duplicate: false };
  const [first] = await tx
    .select({ id: emailMessages.id, status: emailMessages.status })
    .from(emailMessages)
    .where(eq(emailMessages.key, email.key));
  if (!first) throw new Error(`the message ${email.key} was not stored`);
  return { id: first.id, status: first.status, duplicate: true };
}
