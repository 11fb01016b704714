/**
 * Shared set-up of the billing benchmarks: the API with the sandbox gateway listening on 127.0.0.1
 * over a fresh benchmark database (bench/kit.ts), and customers ready to buy.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../packages/server/src/app.ts";
import type { Database } from "../packages/server/src/db/client.ts";
import { gatewaySet } from "../packages/server/src/gateways/gateway.ts";
import { SandboxGateway } from "../packages/server/src/gateways/sandbox.ts";
import { benchDatabase } from "./kit.ts";

// biome-ignore lint/suspicious/noExplicitAny: the JSON answers of the API under load, read loosely
type Json = any;

export interface BenchServer {
  readonly database: Database;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly secret: string;
  readonly sandbox: SandboxGateway;
  request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: () => Promise<Json> }>;
  close(): Promise<void>;
}

export async function startBenchServer(poolSize = 20): Promise<BenchServer> {
  const { database, secret, drop } = await benchDatabase(poolSize);
  const sandbox = new SandboxGateway(database.db);
  const app = await buildApp({ db: database.db, logLevel: "silent", gateways: gatewaySet(sandbox) });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    database,
    app,
    url: base,
    secret,
    sandbox,
    request: async (method, path, body) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: () => response.json() as Promise<Json> };
    },
    close: async () => {
      await app.close();
      await drop();
    },
  };
}

/** An account on Starter (anchored on the 1st) with an active admin and a sandbox card. */
export async function benchCustomer(server: BenchServer, i: number) {
  const account = await (
    await server.request("POST", "/v1/accounts", {
      external_id: `bench_${i}_${randomBytes(3).toString("hex")}`,
      name: `Bench ${i}`,
    })
  ).json();
  const anchor = new Date();
  anchor.setUTCDate(1);
  anchor.setUTCHours(0, 0, 0, 0);
  await server.request("POST", "/v1/subscriptions", {
    account: account.id,
    plan: "starter",
    billing_cycle_anchor: anchor.toISOString(),
  });
  const adminMember = await (
    await server.request("POST", `/v1/accounts/${account.id}/members`, {
      email: `admin${i}@bench.test`,
      role: "admin",
      status: "active",
      user_id: `admin_${i}`,
    })
  ).json();
  await server.request("POST", `/v1/accounts/${account.id}/payment_methods`, { token: "sandbox_visa" });
  return { account: account.id as string, admin: adminMember.id as string };
}
