import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { buildApp } from "../../src/app.ts";
import { domainEvents, invoices } from "../../src/db/schema/index.ts";
import {
  type ChargeOutcome,
  type ChargeRequest,
  type Gateways,
  gatewaySet,
  type PaymentGateway,
} from "../../src/gateways/gateway.ts";
import { SandboxGateway } from "../../src/gateways/sandbox.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import type { BillingContext } from "../../src/services/context.ts";
import { renewSubscriptions } from "../../src/services/invoices/renewals.ts";
import { checkLedger } from "../../src/services/ledger/ledger.ts";
import {
  applyDemoCatalog,
  authenticatedRequests,
  openTestDatabase,
  type TestApi,
  testClock,
} from "./harness.ts";

/**
 * Faults are injected at the gateway boundary, never by mocking our own code: `afterCharge` runs
 * after the real sandbox charged (a crash there is the process dying between the gateway's yes and
 * our commit).
 */
export class FaultyGateway implements PaymentGateway {
  readonly name = "sandbox";
  /** may also hold the answer back (a process stuck, or dead, after the charge) */
  afterCharge: ((request: ChargeRequest, outcome: ChargeOutcome) => void | Promise<void>) | null = null;
  constructor(readonly inner: SandboxGateway) {}
  async charge(request: ChargeRequest) {
    const outcome = await this.inner.charge(request);
    const hook = this.afterCharge;
    if (hook) await hook(request, outcome);
    return outcome;
  }
  retrieve(id: string) {
    return this.inner.retrieve(id);
  }
  refund(input: { paymentId: string; amount: number; idempotencyKey: string }) {
    return this.inner.refund(input);
  }
  cancel(id: string, key: string) {
    return this.inner.cancel(id, key);
  }
}

export class ProcessCrash extends Error {}

export interface BillingApi extends TestApi {
  readonly sandbox: SandboxGateway;
  readonly gateway: FaultyGateway;
  readonly billing: BillingContext;
}

/** A subscription's invoices drafted for `reason` (renewals by default), oldest period first. */
export const invoicesOf = (api: TestApi, subscription: string, reason = "subscription_cycle") =>
  api.database.db
    .select()
    .from(invoices)
    .where(and(eq(invoices.subscriptionId, subscription), eq(invoices.billingReason, reason)))
    .orderBy(invoices.periodStart);

/** Sets the clock to `iso` and runs the renewal job's work once, as it runs then. */
export async function renewAt(api: BillingApi, iso: string, billing: BillingContext = api.billing) {
  api.clock.set(iso);
  return renewSubscriptions(billing);
}

/** A quote made over the API, which must be answered 201. */
export async function quoteOf(api: TestApi, account: string, change: Record<string, unknown>) {
  const response = await api.request("POST", "/v1/quotes", { account, ...change });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** What the sandbox collected for an account (its charges, found by the request's metadata). */
export const chargesFor = async (api: BillingApi, account: string) =>
  (await api.sandbox.collected()).filter((p) =>
    api.sandbox.requests.some((r) => r.idempotencyKey === p.idempotencyKey && r.metadata.account === account),
  );

/** The types of an account's domain events, in the order they were recorded. */
export const eventTypesOf = async (api: TestApi, account: string) =>
  (
    await api.database.db
      .select()
      .from(domainEvents)
      .where(eq(domainEvents.accountId, account))
      .orderBy(domainEvents.seq)
  ).map((e) => e.type);

/** An invoice as the API answers it. */
export const invoiceJson = async (api: TestApi, id: string) =>
  (await api.request("GET", `/v1/invoices/${id}`)).json();

/**
 * The demo catalog with API calls made a billed overage: Starter grants 10 calls, beyond them $2
 * per started 5 calls (for renewals' and final invoices' overage lines).
 */
export function withBilledApiCalls(doc: Record<string, unknown>): Record<string, unknown> {
  const d = structuredClone(doc) as Record<string, Record<string, Record<string, unknown>>>;
  (d.features as Record<string, Record<string, unknown>>).api_calls = {
    ...d.features?.api_calls,
    overage: { policy: "billed", price: { model: "package", package_size: 5, amount: 200 } },
  };
  const starter = d.plans?.starter as { grants: Record<string, unknown> };
  starter.grants = { ...starter.grants, api_calls: 10 };
  return d;
}

export function useBillingApi(
  options: {
    catalog?: (doc: Record<string, unknown>) => Record<string, unknown>;
    /** PostgreSQL's pool (default 30) and its wait for a connection */
    poolSize?: number;
    connectionTimeoutMs?: number;
  } = {},
): BillingApi {
  const api = {} as { -readonly [K in keyof BillingApi]: BillingApi[K] };
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase({
      poolSize: options.poolSize ?? 30,
      connectionTimeoutMs: options.connectionTimeoutMs,
    });
    api.database = database;
    api.clock = testClock("2026-01-17T00:00:00Z");
    await applyDemoCatalog(database.db, api.clock(), options.catalog);
    api.secret = (await createSecretKey(database.db, "test", api.clock())).secret;
    api.sandbox = new SandboxGateway(database.db);
    api.gateway = new FaultyGateway(api.sandbox);
    const gateways: Gateways = gatewaySet(api.gateway);
    api.billing = { db: database.db, clock: api.clock, gateways, vendor: "default", invoicePrefix: "UPT" };
    api.app = await buildApp({ db: database.db, clock: api.clock, logLevel: "silent", gateways });
    api.request = authenticatedRequests(api);
  });
  afterEach(async () => {
    api.gateway.afterCharge = null;
    // Every scenario ends with a ledger that reconciles with the invoices and the gateway.
    const check = await checkLedger(api.database.db);
    expect(check.problems).toEqual([]);
    const collected = (await api.sandbox.collected()).reduce((s, p) => s + p.amount - p.refunded, 0);
    expect(check.totals.cash).toBe(collected);
  });
  afterAll(async () => {
    await api.app?.close();
    await database?.close();
    await database?.dropDatabase();
  });
  return api;
}

/** An account on a plan with an active admin and a stored card. */
export async function customer(
  api: BillingApi,
  plan: string,
  extra: {
    seats?: number;
    interval?: "month" | "year";
    token?: string;
    add_ons?: { key: string; quantity?: number }[];
    billing_cycle_anchor?: string;
  } = { billing_cycle_anchor: "2026-01-01T00:00:00Z" },
) {
  const { token = "sandbox_visa", ...subscription } = extra;
  const externalId = `ext_${randomBytes(5).toString("hex")}`;
  const account = (
    await api.request("POST", "/v1/accounts", { external_id: externalId, name: `Customer ${externalId}` })
  ).json();
  const sub = await api.request("POST", "/v1/subscriptions", { account: account.id, plan, ...subscription });
  if (sub.statusCode !== 201) throw new Error(`subscription failed: ${sub.body}`);
  const admin = await api.request("POST", `/v1/accounts/${account.id}/members`, {
    email: `admin@${externalId.replace("_", "-")}.test`,
    role: "admin",
    status: "active",
    user_id: `admin_${externalId}`,
  });
  if (admin.statusCode !== 201) throw new Error(`admin failed: ${admin.body}`);
  const pm = await api.request("POST", `/v1/accounts/${account.id}/payment_methods`, { token });
  if (pm.statusCode !== 201) throw new Error(`payment method failed: ${pm.body}`);
  return {
    account: account.id as string,
    subscription: sub.json().id as string,
    admin: admin.json().id as string,
    adminUser: `admin_${externalId}`,
  };
}

/** Everything a paying request could change, and how often the gateway was asked. */
export async function snapshotOf(api: BillingApi) {
  const { rows } = await api.database.executeSql(`select
      (select count(*) from checkouts)::int as checkouts,
      (select count(*) from invoices)::int as invoices,
      (select count(*) from invoice_payments)::int as invoice_payments,
      (select count(*) from ledger_entries)::int as ledger_entries,
      (select count(*) from members)::int as members,
      (select count(*) from domain_events)::int as domain_events,
      (select count(*) from scheduled_changes)::int as scheduled_changes,
      (select count(*) from idempotency_keys)::int as idempotency_keys,
      (select coalesce(sum(revision), 0)::int from subscriptions) as revisions`);
  return { ...rows[0], gateway_requests: api.sandbox.requests.length };
}

/** Idempotency-Key forms that are not a key: empty, too long, sent twice, control or non-ASCII, spaces only. */
export const INVALID_KEYS: readonly [form: string, value: string | string[]][] = [
  ["empty", ""],
  ["256 characters", "k".repeat(256)],
  ["sent twice", ["pay-1", "pay-2"]],
  ["sent twice, the same", ["pay-1", "pay-1"]],
  ["a control character", "pay\u0001one"],
  ["non-ASCII", "paiement-é"],
  ["only spaces", "   "],
];
