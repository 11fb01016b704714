import { parseRetrySchedule } from "@uptier/core";
import type { Db } from "../db/client.ts";
import { type Gateways, gatewaySet } from "../gateways/gateway.ts";
import { SandboxGateway } from "../gateways/sandbox.ts";
import { StripeGateway } from "../gateways/stripe.ts";

export type Clock = () => Date;

/** What every service is called with: the database and the clock (routes, jobs and the CLI build it). */
export interface AppContext {
  readonly db: Db;
  readonly clock: Clock;
}

/** What the billing services need beyond the app context: the gateways and the vendor's numbering. */
export interface BillingContext {
  readonly db: Db;
  readonly clock: Clock;
  readonly gateways: Gateways;
  /** invoice numbers are gap-free per vendor (one vendor per deployment: "default") */
  readonly vendor: string;
  readonly invoicePrefix: string;
  /** dunning: retry days after an invoice's first failed attempt (default: core's DEFAULT_RETRY_DAYS) */
  readonly retryDays?: readonly number[];
  /**
   * The test clock whose accounts the jobs act on, as of `clock` (its advance); absent, the jobs act
   * on the accounts on no test clock, in real time (db/queries/test-clock-scope.ts).
   */
  readonly testClock?: string;
}

/**
 * The gateways a deployment uses: the sandbox always (the default unless Stripe is configured), and
 * Stripe when STRIPE_SECRET_KEY is set.
 */
export function defaultGateways(db: Db, env: NodeJS.ProcessEnv = process.env): Gateways {
  const sandbox = new SandboxGateway(db);
  if (!env.STRIPE_SECRET_KEY) return gatewaySet(sandbox);
  return gatewaySet(new StripeGateway({ secretKey: env.STRIPE_SECRET_KEY }), sandbox);
}

/** A deployment's billing context (the API, the jobs and the CLI build theirs here). */
export function billingContext(
  db: Db,
  gateways: Gateways = defaultGateways(db),
  clock: Clock = () => new Date(),
): BillingContext {
  return {
    db,
    clock,
    gateways,
    vendor: "default",
    invoicePrefix: process.env.UPTIER_INVOICE_PREFIX ?? "UPT",
    retryDays: retryDaysFromEnv(process.env),
  };
}

/** UPTIER_DUNNING_RETRY_DAYS ("1,3,5,7", or "none"); a bad value stops the start with its reason. */
export function retryDaysFromEnv(env: NodeJS.ProcessEnv): readonly number[] {
  const schedule = parseRetrySchedule(env.UPTIER_DUNNING_RETRY_DAYS);
  if (!schedule.ok) throw new Error(`UPTIER_DUNNING_RETRY_DAYS: ${schedule.message}`);
  return schedule.days;
}

const contexts = new WeakMap<AppContext, BillingContext>();

/** Attaches the billing context to a route context (app.ts does it once). */
export function attachBilling(ctx: AppContext, gateways: Gateways = defaultGateways(ctx.db)): BillingContext {
  const billing = billingContext(ctx.db, gateways, ctx.clock);
  contexts.set(ctx, billing);
  return billing;
}

export function billingOf(ctx: AppContext): BillingContext {
  return contexts.get(ctx) ?? attachBilling(ctx);
}
