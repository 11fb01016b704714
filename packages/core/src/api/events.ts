import type { ChangeComponent } from "../quotes/change-rules.ts";
import type {
  CheckoutView,
  CreditNoteView,
  InvoiceView,
  MemberView,
  PaymentMethodView,
  SubscriptionView,
} from "./responses.ts";

/**
 * The domain-event catalog: every event Uptier writes to its log (the transactional outbox), its
 * `noun.verb` name and its payload, defined once. Consumers (the entitlement cache, plays,
 * webhooks, MRR movements) read `data` by this table; a payload that changes shape gets an
 * upcaster below so rows already in the log keep reading.
 */
type Instant = string;

/** What a checkout changed: the quote it applied, and for a split, the part applied now or later. */
export interface CheckoutChange {
  readonly quote: string;
  readonly checkout: string;
  readonly timing: "immediate" | "period_end" | "split";
  readonly components: readonly ChangeComponent[];
}

/** A change made by an administrative update (PATCH /v1/subscriptions/{id}): no charge, no proration. */
export interface SubscriptionUpdate {
  readonly update: "administrative";
  readonly components: readonly ChangeComponent[];
}

/** Why a subscription changed outside a checkout or a plain update. */
export type SubscriptionChangeCause =
  | CheckoutChange
  | { readonly quote: string; readonly timing: "period_end"; readonly effective_at: Instant }
  | { readonly reason: "payment_failed" | "invoice_settled" };

export type ChurnReason = "voluntary" | "delinquent";

export interface CatalogChange {
  readonly kind: "feature" | "meter" | "plan" | "add_on";
  readonly key: string;
  readonly change: "created" | "new_version" | "archived" | "updated";
  readonly version?: number;
}

/** What a play's step did, as its webhook and CRM-task events carry it. */
export interface PlayStepPayload {
  play: string;
  cycle: string;
  /** 0: at the firing; n: the n-th follow-up */
  step: number;
  variant: string | null;
  /** why it acted (the trigger's condition, in words) */
  reason: string;
  title: string;
  body: string;
  cta: string | null;
  /** the change offered and the quote made for it (null when the play offers nothing priced) */
  offer: { quote: string; amount_due: number; currency: string } | null;
  /** the members it concerns (the audience now), buyers first */
  members: readonly { user: string; email: string; role: "admin" | "member" }[];
}

export interface DomainEventPayloads {
  "account.created": { external_id: string; name: string; created_by?: "usage_event" };
  "account.updated": { changes: Record<string, unknown> };
  "admin_approval.requested": {
    quote: string;
    requested_by: string | null;
    invite_email?: string;
    admins: readonly string[];
  };
  "catalog.applied": { version: number; changes: readonly CatalogChange[] };
  "checkout.succeeded": { checkout: CheckoutView };
  "checkout.failed": { checkout: CheckoutView };
  "checkout.refunded": { checkout: CheckoutView };
  /** a credit note issued: its credit given to the balance, or its refund made by the gateway */
  "credit_note.created": { credit_note: CreditNoteView };
  "entitlement.denied": {
    feature: string;
    reason: string;
    quantity: number;
    limit: number | null;
    used: number | null;
    upgrade: { type: string; key: string } | null;
  };
  "invoice.created": { invoice: InvoiceView };
  "invoice.finalized": { invoice: InvoiceView };
  "invoice.paid": { invoice: InvoiceView; checkout?: string; attempt?: number };
  "invoice.payment_failed": {
    invoice: InvoiceView;
    attempt: number;
    failure: { code: string | null; message: string | null };
    next_payment_attempt: Instant | null;
  };
  "invoice.voided": { invoice: InvoiceView };
  "invoice.marked_uncollectible": { invoice: InvoiceView; reason: string };
  "member.invited": { member: MemberView };
  "member.added": { member: MemberView };
  "member.updated": { member: MemberView; previous: MemberView };
  "member.removed": { member: MemberView; previous: MemberView };
  /**
   * An invite refused for lack of seats (the seat-limit moment: plays' seat_limit_hit): recorded
   * although the request is answered 4xx, once per Idempotency-Key (docs/rules.md, conventions).
   */
  "member.invite_refused": {
    subscription: string;
    email: string;
    user_id: string | null;
    role: "admin" | "member";
    /** the member or user id the request named as inviting (its `invited_by` or `authorize`) */
    invited_by: string | null;
    plan: string;
    seats: number;
    seats_in_use: number;
    reason: "no_free_seat" | "plan_seat_maximum";
    /** the request's Idempotency-Key, if it sent one (a retry of it records nothing more) */
    request: { idempotency_key: string | null };
  };
  /** a play's trigger fired for the account and its audience got prompts (docs/plays.md, "In the app") */
  "play.triggered": {
    play: string;
    cycle: string;
    /** the trigger's reason, in words */
    reason: string;
    /** the prompts made, one per member of the audience */
    prompts: readonly { id: string; user: string; action: "buy" | "ask_admin"; variant: string | null }[];
  };
  /**
   * A step of a play with the webhook channel acted (docs/plays.md, "Channels"): the copy and the
   * offer, for the vendor's own systems to act on.
   */
  "play.webhook": PlayStepPayload;
  /** A step of a play with the crm_task channel acted: a task for the people who own the account. */
  "crm_task.created": PlayStepPayload & { task: string };
  "payment_method.attached": { payment_method: PaymentMethodView };
  "payment_method.detached": { payment_method: PaymentMethodView };
  /** a new version of the playbook is in force (an identical one applied again writes none) */
  "playbook.applied": { version: number; catalog_version: number; plays: readonly string[] };
  "subscription.created": { subscription: SubscriptionView };
  "subscription.updated": {
    previous: SubscriptionView;
    subscription: SubscriptionView;
    change?: SubscriptionChangeCause;
  };
  "subscription.change_scheduled": {
    subscription: SubscriptionView;
    effective_at: Instant;
    to: unknown;
    change: CheckoutChange;
  };
  "subscription.scheduled_change_canceled": {
    subscription: string;
    scheduled_change: NonNullable<SubscriptionView["scheduled_change"]>;
    /** the checkout or the administrative update whose change replaced it; null when canceled by itself */
    replaced_by: CheckoutChange | SubscriptionUpdate | null;
  };
  "subscription.cancellation_scheduled": { subscription: string; cancel_at: Instant };
  /** written without `reason` and `invoice` when the customer ended it: read through the upcaster */
  "subscription.canceled": {
    subscription: string;
    ended_at: Instant;
    reason?: ChurnReason;
    /** the written-off invoice of a delinquent cancellation */
    invoice?: string | null;
  };
  "usage.recorded": { accounts: readonly string[]; feature?: string; quantity?: number; by?: "check" };
  "usage.gauge_set": { feature: string; value: number };
  /** Uptier stopped sending to a webhook endpoint that kept failing (docs/webhooks.md) */
  "webhook_endpoint.disabled": {
    endpoint: string;
    url: string;
    reason: "failing_for_days" | "failed_deliveries";
    failing_since: Instant | null;
  };
}

export type DomainEventType = keyof DomainEventPayloads;

export const DOMAIN_EVENT_TYPES = [
  "account.created",
  "account.updated",
  "admin_approval.requested",
  "catalog.applied",
  "checkout.succeeded",
  "checkout.failed",
  "checkout.refunded",
  "credit_note.created",
  "entitlement.denied",
  "invoice.created",
  "invoice.finalized",
  "invoice.paid",
  "invoice.payment_failed",
  "invoice.voided",
  "invoice.marked_uncollectible",
  "member.invited",
  "member.added",
  "member.updated",
  "member.removed",
  "member.invite_refused",
  "play.triggered",
  "play.webhook",
  "crm_task.created",
  "payment_method.attached",
  "payment_method.detached",
  "playbook.applied",
  "subscription.created",
  "subscription.updated",
  "subscription.change_scheduled",
  "subscription.scheduled_change_canceled",
  "subscription.cancellation_scheduled",
  "subscription.canceled",
  "usage.recorded",
  "usage.gauge_set",
  "webhook_endpoint.disabled",
] as const satisfies readonly DomainEventType[];

/** One event of the log: `account` is null for a vendor-wide event (a catalog applied). */
export type DomainEvent = {
  [T in DomainEventType]: {
    readonly type: T;
    readonly account: string | null;
    readonly data: DomainEventPayloads[T];
  };
}[DomainEventType];

export type DomainEventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** The one constructor: the payload is checked against the catalog for the type named. */
export function domainEvent<T extends DomainEventType>(
  type: T,
  account: string | null,
  data: DomainEventPayloads[T],
): DomainEventOf<T> {
  return { type, account, data } as DomainEventOf<T>;
}

export const isDomainEventType = (type: string): type is DomainEventType =>
  (DOMAIN_EVENT_TYPES as readonly string[]).includes(type);

/**
 * Reads a stored event in its full shape: a `subscription.canceled` without a reason is the
 * customer's own (voluntary) cancellation; only a delinquent one names its reason and invoice.
 */
export function upcastDomainEvent(type: string, account: string | null, data: unknown): DomainEvent | null {
  if (!isDomainEventType(type)) return null;
  if (type === "subscription.canceled") {
    const old = data as { subscription: string; ended_at: Instant; reason?: ChurnReason; invoice?: string };
    return domainEvent(type, account, {
      subscription: old.subscription,
      ended_at: old.ended_at,
      reason: old.reason ?? "voluntary",
      invoice: old.invoice ?? null,
    });
  }
  return { type, account, data } as DomainEvent;
}
