/**
 * Checkout: a quote applied exactly once (docs/billing.md). The intent — a checkout row in state
 * `pending` — is committed before the gateway is called, and the gateway's idempotency key is derived
 * from its id; the change, the paid invoice, the ledger and the events are committed together once
 * the gateway said yes. Whatever a crash or timeout leaves `pending`, `recoverCheckouts` settles by
 * asking the gateway again with the same key (it answers with the first outcome, never a second charge).
 *
 *   pending ──▶ succeeded          (charged, applied, invoiced: one transaction)
 *      │  └──▶ failed              (declined: nothing applied)
 *      ├──▶ requires_action ──▶ succeeded | failed | canceled (3-D Secure, confirmed later)
 *      └──▶ refund_pending ──▶ refunded  (charged, but the subscription changed meanwhile)
 *
 * Steps, a file each: authorize, begin, charge, complete, recover; views.ts holds the reads.
 * Checkouts that arrive together begin together and complete together (lib/batches.ts).
 */
export { requestAdminApproval } from "./authorize.ts";
export {
  type BeginInput,
  type BegunCheckout,
  beginAuthorisedCheckout,
  beginCheckout,
  gatewayKeyFor,
} from "./begin.ts";
export { confirmCheckout, driveCheckout, runCheckout, settleOutcome } from "./charge.ts";
export { type RecoveryReport, recoverCheckouts, refundCheckout } from "./recover.ts";
export { type CheckoutView, checkoutView, findCheckout, getCheckout } from "./views.ts";
