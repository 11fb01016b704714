import { randomBytes } from "node:crypto";
import { type CatalogInput, validateCatalog } from "@uptier/core";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll } from "vitest";
import { buildApp } from "../../src/app.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { applyCatalog } from "../../src/services/catalog/apply.ts";
import type { MeteringOptions } from "../../src/services/metering/metering-state.ts";
import { authenticatedRequests, openTestDatabase, type TestApi, testClock } from "./harness.ts";

/**
 * A catalog with one meter per aggregation and reset, and one feature per overage policy, for the
 * metering and entitlement tests. Prices are the demo's: Starter $99, Pro $249, $15 per extra seat.
 */
export const METERING_CATALOG: CatalogInput = {
  currency: "usd",
  features: {
    seats: { kind: "seats", name: "Seats" },
    projects: { kind: "limit", name: "Projects" },
    api_calls: {
      kind: "metered",
      name: "API calls",
      meter: "api_calls",
      overage: { policy: "soft", grace_percent: 10 },
    },
    exports: { kind: "metered", name: "Exports", meter: "exports", overage: { policy: "hard" } },
    storage: {
      kind: "metered",
      name: "Storage",
      meter: "storage_bytes",
      overage: { policy: "billed", price: { model: "per_unit", unit_amount: 1 } },
    },
    peak_jobs: { kind: "metered", name: "Peak jobs", meter: "peak_jobs", overage: { policy: "hard" } },
    active_users: {
      kind: "metered",
      name: "Active users",
      meter: "active_users",
      overage: { policy: "hard" },
    },
    documents: { kind: "metered", name: "Documents ever", meter: "documents", overage: { policy: "hard" } },
    sso: { kind: "boolean", name: "SSO" },
    reports: { kind: "boolean", name: "Reports" },
  },
  meters: {
    api_calls: { event: "api.call", aggregation: "count", reset: "billing_period" },
    exports: { event: "export.created", aggregation: "count", reset: "calendar_month" },
    storage_bytes: { event: "file.stored", aggregation: "sum", property: "bytes", reset: "billing_period" },
    peak_jobs: { event: "jobs.sampled", aggregation: "max", property: "running", reset: "billing_period" },
    active_users: {
      event: "user.active",
      aggregation: "unique_count",
      property: "user_id",
      reset: "billing_period",
    },
    documents: { event: "document.created", aggregation: "count", reset: "never" },
  },
  plans: {
    free: {
      name: "Free",
      tier: 0,
      prices: { month: { base: 0 } },
      seats: { included: 3, max: 3 },
      grants: {
        projects: 5,
        api_calls: 1000,
        exports: 10,
        storage: 1000,
        peak_jobs: 2,
        active_users: 3,
        documents: 5,
      },
    },
    starter: {
      name: "Starter",
      tier: 1,
      extends: "free",
      prices: {
        month: { base: 9900, seat: { model: "per_unit", unit_amount: 1500 } },
        year: { base: 99000, seat: { model: "per_unit", unit_amount: 15000 } },
      },
      seats: { included: 5 },
      grants: {
        projects: 20,
        api_calls: 10_000,
        exports: 100,
        storage: 100_000,
        peak_jobs: 10,
        active_users: 50,
        documents: 500,
      },
    },
    pro: {
      name: "Pro",
      tier: 2,
      extends: "starter",
      prices: {
        month: { base: 24900, seat: { model: "per_unit", unit_amount: 1500 } },
        year: { base: 249000, seat: { model: "per_unit", unit_amount: 15000 } },
      },
      seats: { included: 10 },
      grants: { projects: "unlimited", api_calls: 100_000, reports: true },
    },
  },
  add_ons: {
    sso: {
      name: "SSO",
      prices: { month: { model: "flat", amount: 4900 }, year: { model: "flat", amount: 49000 } },
      grants: { sso: true },
      plans: ["starter", "pro"],
    },
    project_pack: {
      name: "10 more projects",
      quantity: "multiple",
      prices: {
        month: { model: "per_unit", unit_amount: 500 },
        year: { model: "per_unit", unit_amount: 5000 },
      },
      grants: { projects: 10 },
      plans: ["starter"],
    },
  },
};

export interface MeteringTestApi extends TestApi {
  /** an account (by external id) with a subscription; returns both ids */
  accountOn(
    plan: string,
    extra?: Record<string, unknown>,
  ): Promise<{ account: string; subscription: string; external: string }>;
  events(events: unknown[] | unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

/** The API on a fresh database with METERING_CATALOG applied; metering options as given. */
export function useMeteringApi(
  options: {
    metering?: Partial<MeteringOptions>;
    catalog?: CatalogInput;
    poolSize?: number;
    connectionTimeoutMs?: number;
    listen?: boolean;
  } = {},
): MeteringTestApi {
  const api = {} as { -readonly [K in keyof MeteringTestApi]: MeteringTestApi[K] };
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase({
      poolSize: options.poolSize,
      connectionTimeoutMs: options.connectionTimeoutMs,
    });
    api.database = database;
    api.clock = testClock();
    const validation = validateCatalog(options.catalog ?? METERING_CATALOG);
    if (!validation.ok) throw new Error(`test catalog invalid: ${JSON.stringify(validation.issues)}`);
    await database.db.transaction((tx) => applyCatalog(tx, validation.catalog, api.clock()));
    api.secret = (await createSecretKey(database.db, "test", api.clock())).secret;
    api.app = (await buildApp({
      db: database.db,
      clock: api.clock,
      logLevel: "silent",
      metering: { pollIntervalMs: 20, ...options.metering },
    })) as FastifyInstance;
    if (options.listen) await api.app.listen({ port: 0, host: "127.0.0.1" });
    api.request = authenticatedRequests(api);
    api.events = (events, headers) =>
      api.request("POST", "/v1/events", Array.isArray(events) ? { events } : events, headers);
    api.accountOn = async (plan, extra = {}) => {
      const external = `org_${randomBytes(5).toString("hex")}`;
      const account = (
        await api.request("POST", "/v1/accounts", { external_id: external, name: external })
      ).json();
      const sub = await api.request("POST", "/v1/subscriptions", { account: account.id, plan, ...extra });
      if (sub.statusCode !== 201) throw new Error(`subscription failed: ${sub.body}`);
      return { account: account.id as string, subscription: sub.json().id as string, external };
    };
  });
  afterAll(async () => {
    await api.app?.close();
    await database?.close();
    await database?.dropDatabase();
  });
  return api;
}

let counter = 0;
/** A usage event with a fresh id. */
export function usageEvent(account: string, event: string, extra: Record<string, unknown> = {}) {
  counter += 1;
  return { id: `ev_${counter}_${randomBytes(4).toString("hex")}`, account, event, ...extra };
}
