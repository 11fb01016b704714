import { type RecoveryReport, recoverCheckouts } from "../services/checkout/index.ts";
import type { BillingContext } from "../services/context.ts";
import { refundPendingCreditNotes } from "../services/credit-notes/credit-notes.ts";
import { type DunningReport, retryInvoicePayments } from "../services/invoices/collection.ts";
import { type RenewalReport, renewSubscriptions } from "../services/invoices/renewals.ts";
import { applyScheduledChanges } from "../services/subscriptions/scheduled-changes.ts";

/**
 * A recurring piece of work: what the queue runs on each tick and `uptier billing <command>` runs
 * by hand. `run` must be safe to run twice, and on two nodes at once (row locks and status checks
 * inside the services make it so); the queue only keeps it from running needlessly in parallel.
 */
export interface JobDefinition<Result extends object = object> {
  /** the queue name, `<area>.<command>` */
  readonly name: string;
  /** when it runs (cron, UTC) */
  readonly cron: string;
  readonly description: string;
  /** shorter names for `uptier billing <command>` */
  readonly aliases?: readonly string[];
  run(billing: BillingContext): Promise<Result>;
  /** one line for a person: what the run did */
  describe(result: Result): string;
  /** whether the run changed anything (logged at info; otherwise at debug) */
  didWork(result: Result): boolean;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export const recoverCheckoutsJob: JobDefinition<RecoveryReport> = {
  name: "billing.recover-checkouts",
  cron: "* * * * *",
  description:
    "Resolve checkouts left mid-way (pending for over a minute, or awaiting 3-D Secure) by asking the gateway",
  run: (billing) => recoverCheckouts(billing),
  describe: (r) =>
    `Examined ${plural(r.examined, "stuck checkout")}: ${r.completed} completed, ${r.failed} failed, ` +
    `${r.refunded} refunded, ${r.canceled} canceled, ${r.unresolved} unresolved.`,
  didWork: (r) => r.examined > 0,
};

export const applyScheduledChangesJob: JobDefinition<{ applied: number }> = {
  name: "billing.apply-scheduled-changes",
  cron: "* * * * *",
  description: "Apply the downgrades, seat reductions and interval switches whose period end has come",
  run: async (billing) => ({ applied: await applyScheduledChanges(billing) }),
  describe: (r) => `Applied ${plural(r.applied, "scheduled change")}.`,
  didWork: (r) => r.applied > 0,
};

export const renewSubscriptionsJob: JobDefinition<RenewalReport> = {
  name: "billing.renew-subscriptions",
  cron: "* * * * *",
  description:
    "Invoice every subscription period that has begun (recurring items in advance, billed overage in arrears) and the last period's overage of every subscription that has ended, finalize and charge them",
  aliases: ["renew"],
  run: (billing) => renewSubscriptions(billing),
  describe: (r) =>
    `Renewed ${plural(r.renewed, "subscription period")}${r.final > 0 ? `, drafted ${plural(r.final, "final invoice")}` : ""}: ${r.finalized} finalized, ${r.paid} paid, ${r.failed} payment failed.`,
  didWork: (r) => r.renewed + r.final + r.finalized > 0,
};

export const retryInvoicePaymentsJob: JobDefinition<DunningReport> = {
  name: "billing.retry-invoice-payments",
  cron: "* * * * *",
  description:
    "Dunning: retry open invoices whose next attempt is due, finish attempts left mid-way, give up after the last retry",
  aliases: ["dunning"],
  run: (billing) => retryInvoicePayments(billing),
  describe: (r) =>
    `Attempted ${plural(r.attempted, "open invoice")}: ${r.paid} paid, ${r.failed} failed, ` +
    `${r.uncollectible} uncollectible; ${plural(r.resumed, "interrupted attempt")} resumed.`,
  didWork: (r) => r.attempted + r.resumed > 0,
};

export const refundCreditNotesJob: JobDefinition<{ refunded: number; pending: number }> = {
  name: "billing.refund-credit-notes",
  cron: "* * * * *",
  description:
    "Finish the refunds of credit notes left pending for over a minute (a gateway that failed, a crash) by asking the gateway again with the same key",
  run: (billing) => refundPendingCreditNotes(billing),
  describe: (r) => `Refunded ${plural(r.refunded, "credit note")}; ${r.pending} still pending.`,
  didWork: (r) => r.refunded + r.pending > 0,
};

export const BILLING_JOBS: readonly JobDefinition[] = [
  recoverCheckoutsJob,
  applyScheduledChangesJob,
  renewSubscriptionsJob,
  retryInvoicePaymentsJob,
  refundCreditNotesJob,
];

/** Runs a job once, in this process, and says what it did (the CLI's `uptier billing …`). */
export async function runJobOnce(job: JobDefinition, billing: BillingContext): Promise<string> {
  return job.describe(await job.run(billing));
}
