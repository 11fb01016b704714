import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import nodemailer, { type Transporter } from "nodemailer";
import type { Db } from "../../db/client.ts";
import { emailMessages, emailRecipients } from "../../db/schema/index.ts";
import { type LoopLogger, PollLoop } from "../../lib/poll-loop.ts";
import type { Clock } from "../context.ts";
import { composeEmail } from "./compose.ts";
import { type EmailOutcome, type EmailToSend, queueEmail } from "./outbox.ts";

const MINUTE = 60_000;

/** The waits before each retry of a failed send: 1 min, 5 min, 30 min, 2 h, 6 h; then it is failed. */
export const DEFAULT_EMAIL_RETRY_SCHEDULE_MS: readonly number[] = [
  MINUTE,
  5 * MINUTE,
  30 * MINUTE,
  120 * MINUTE,
  360 * MINUTE,
];

export interface MailerOptions {
  readonly db: Db;
  /** nodemailer's transport (mailerFromUrl builds an SMTP one) */
  readonly transport: Transporter;
  /** the From header, e.g. `Acme <billing@acme.test>` */
  readonly from: string;
  /** where the unsubscribe route is reached from a mail client, e.g. https://uptier.acme.test */
  readonly publicUrl: string;
  readonly clock?: Clock;
  readonly retrySchedule?: readonly number[];
  /** the most messages one pass sends, one after another (default 10) */
  readonly batchSize?: number;
  readonly log?: LoopLogger;
}

export interface MailPassReport {
  readonly attempted: number;
  readonly sent: number;
  readonly failed: number;
  readonly suppressed: number;
  readonly more: boolean;
}

type Claimed = typeof emailMessages.$inferSelect & {
  readonly token: string | null;
  readonly suppressed: boolean;
};

/**
 * Sends email over SMTP from the outbox (`email_messages`): `send` queues a message and tries it at
 * once; the worker (`start`) sends what is queued and retries failures. A permanent refusal by the
 * server (a 5xx reply) fails the message at once; anything else is retried on the schedule.
 */
export class Mailer {
  private readonly clock: Clock;
  private loop: PollLoop | null = null;

  constructor(private readonly options: MailerOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /** Queues the message (once per key) and sends it now; answers what became of it. */
  async send(email: EmailToSend): Promise<EmailOutcome> {
    const queued = await this.options.db.transaction((tx) => queueEmail(tx, email, this.clock()));
    if (queued.status !== "queued") return queued;
    await this.deliverDue([queued.id]);
    const [row] = await this.options.db
      .select({ status: emailMessages.status })
      .from(emailMessages)
      .where(eq(emailMessages.id, queued.id));
    return { ...queued, status: row?.status ?? queued.status };
  }

  /** One pass: sends the queued messages that are due (only those of `ids`, when given). */
  async deliverDue(ids?: readonly string[]): Promise<MailPassReport> {
    const batchSize = this.options.batchSize ?? 10;
    const claim = randomUUID();
    const due = await this.claimDue(claim, batchSize, ids);
    const report = { attempted: 0, sent: 0, failed: 0, suppressed: 0 };
    for (const message of due) {
      const status = await this.sendOne(message, claim);
      if (status === "suppressed") report.suppressed++;
      else report.attempted++;
      if (status === "sent") report.sent++;
      if (status === "queued" || status === "failed") report.failed++;
    }
    return { ...report, more: due.length === batchSize };
  }

  /** Starts the worker: a pass every `pollIntervalMs` (default 5 s), at once again while batches are full. */
  start(pollIntervalMs = 5000): void {
    if (this.loop) return;
    this.loop = new PollLoop("email delivery", () => this.deliverDue(), pollIntervalMs, this.options.log);
    this.loop.start();
  }

  wake(): void {
    this.loop?.wake();
  }

  /** Stops the worker and closes the SMTP transport. */
  async stop(): Promise<void> {
    await this.loop?.stop();
    this.loop = null;
    this.options.transport.close();
  }

  private claimDue(claim: string, limit: number, ids?: readonly string[]): Promise<Claimed[]> {
    const at = this.clock();
    return this.options.db.transaction(async (tx) => {
      const rows = await tx
        .select({
          message: emailMessages,
          token: emailRecipients.unsubscribeToken,
          suppressedAt: emailRecipients.suppressedAt,
        })
        .from(emailMessages)
        .leftJoin(emailRecipients, eq(emailRecipients.address, sql`lower(${emailMessages.to})`))
        .where(
          and(
            eq(emailMessages.status, "queued"),
            lte(emailMessages.nextAttemptAt, at),
            or(isNull(emailMessages.claimedUntil), lt(emailMessages.claimedUntil, at)),
            ids ? inArray(emailMessages.id, [...ids]) : undefined,
          ),
        )
        .orderBy(asc(emailMessages.nextAttemptAt))
        .limit(limit)
        .for("update", { of: emailMessages, skipLocked: true });
      if (rows.length === 0) return [];
      await tx
        .update(emailMessages)
        .set({ claim, claimedUntil: new Date(at.getTime() + 5 * MINUTE) })
        .where(
          inArray(
            emailMessages.id,
            rows.map((r) => r.message.id),
          ),
        );
      return rows.map((r) => ({ ...r.message, token: r.token, suppressed: r.suppressedAt !== null }));
    });
  }

  private async sendOne(message: Claimed, claim: string): Promise<EmailOutcome["status"]> {
    // unsubscribed after it was queued: never sent
    if (message.suppressed || message.token === null)
      return this.record(message, claim, { status: "suppressed" });
    try {
      const info = await this.options.transport.sendMail(
        composeEmail(message, {
          from: this.options.from,
          publicUrl: this.options.publicUrl,
          token: message.token,
        }),
      );
      return this.record(message, claim, { status: "sent", messageId: String(info.messageId ?? "") });
    } catch (error) {
      const e = error as { responseCode?: number; message?: string };
      const permanent = typeof e.responseCode === "number" && e.responseCode >= 500 && e.responseCode < 600;
      const reason = (e.message ?? String(error)).replaceAll("\u0000", "").toWellFormed().slice(0, 1000);
      this.options.log?.error({ err: error, email: message.id }, "sending an email failed");
      return this.record(message, claim, { status: "failed", permanent, reason });
    }
  }

  private async record(
    message: Claimed,
    claim: string,
    outcome:
      | { status: "sent"; messageId: string }
      | { status: "suppressed" }
      | { status: "failed"; permanent: boolean; reason: string },
  ): Promise<EmailOutcome["status"]> {
    const at = this.clock();
    const attempts = message.attempts + (outcome.status === "suppressed" ? 0 : 1);
    const released = { claim: null, claimedUntil: null, attempts };
    let set: Partial<typeof emailMessages.$inferInsert>;
    if (outcome.status === "sent")
      set = { ...released, status: "sent", sentAt: at, messageId: outcome.messageId, nextAttemptAt: null };
    else if (outcome.status === "suppressed")
      set = { ...released, status: "suppressed", nextAttemptAt: null };
    else {
      const wait = outcome.permanent
        ? undefined
        : (this.options.retrySchedule ?? DEFAULT_EMAIL_RETRY_SCHEDULE_MS)[attempts - 1];
      set = {
        ...released,
        status: wait === undefined ? "failed" : "queued",
        nextAttemptAt: wait === undefined ? null : new Date(at.getTime() + wait),
        lastError: outcome.reason,
      };
    }
    const [row] = await this.options.db
      .update(emailMessages)
      .set(set)
      .where(and(eq(emailMessages.id, message.id), eq(emailMessages.claim, claim)))
      .returning({ status: emailMessages.status });
    return row?.status ?? "queued";
  }
}

export interface SmtpSettings {
  /** smtp://user:pass@host:587 or smtps://…:465 (nodemailer's URL form) */
  readonly smtpUrl: string;
  readonly from: string;
  readonly publicUrl: string;
}

/** A mailer over SMTP, with timeouts short enough that a dead server does not hold a worker for minutes. */
export function smtpMailer(
  db: Db,
  settings: SmtpSettings,
  extra: Omit<MailerOptions, "db" | "transport" | "from" | "publicUrl"> = {},
): Mailer {
  const transport = nodemailer.createTransport({
    url: settings.smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return new Mailer({ db, transport, from: settings.from, publicUrl: settings.publicUrl, ...extra });
}
