import { accountSegment, annualContractValue } from "@uptier/core";
import type { CreateAccountInput, ListAccountsQuery, UpdateAccountInput } from "@uptier/core/api";
import { and, desc, eq, lt } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { accounts } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import { liveSubscriptionsOf, type SubscriptionRecord } from "../subscriptions/records.ts";
import { findTestClock } from "../test-clocks/clocks.ts";

type AccountRow = typeof accounts.$inferSelect;

export function accountView(row: AccountRow, live: SubscriptionRecord | undefined) {
  const acv = live ? { amount: annualContractValue(live.shape), currency: live.currency } : null;
  const properties = row.properties as Record<string, unknown>;
  return {
    id: row.id,
    object: "account" as const,
    external_id: row.externalId,
    name: row.name,
    properties,
    subscription: live?.id ?? null,
    annual_contract_value: acv,
    segment: accountSegment(properties, acv),
    test_clock: row.testClockId,
    created: row.createdAt.toISOString(),
    updated: row.updatedAt.toISOString(),
  };
}
export type AccountView = ReturnType<typeof accountView>;

export async function createAccount(tx: Tx, input: z.infer<typeof CreateAccountInput>, now: Date) {
  // An account on a test clock is created at the clock's time, as everything it does after.
  const clock = input.test_clock ? await clockForAccount(tx, input.test_clock) : null;
  const at = clock?.frozenTime ?? now;
  const [existing] = await tx
    .select({ id: accounts.id })
    .from(accounts)
    .where(eq(accounts.externalId, input.external_id));
  if (existing)
    throw new DomainError(
      "account_exists",
      `An account with external_id "${input.external_id}" exists: ${existing.id}.`,
      {
        param: "external_id",
      },
    );
  const [row] = await tx
    .insert(accounts)
    .values({
      id: newId("account", at),
      externalId: input.external_id,
      name: input.name,
      properties: dropNulls(input.properties),
      testClockId: clock?.id ?? null,
      createdAt: at,
      updatedAt: at,
    })
    .returning();
  const account = row as AccountRow;
  await recordEvent(tx, {
    type: "account.created",
    accountId: account.id,
    data: { external_id: account.externalId, name: account.name },
    at,
  });
  return accountView(account, undefined);
}

function dropNulls(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== null));
}

export async function findAccount(db: Executor, id: string): Promise<AccountRow> {
  const [row] = await db.select().from(accounts).where(eq(accounts.id, id));
  if (!row) throw notFound("account", id);
  return row;
}

export async function getAccount(db: Executor, id: string, at: Date): Promise<AccountView> {
  const row = await findAccount(db, id);
  const live = await liveSubscriptionsOf(db, [row.id], at);
  return accountView(row, live.get(row.id));
}

export async function updateAccount(tx: Tx, id: string, patch: z.infer<typeof UpdateAccountInput>, at: Date) {
  const current = await findAccount(tx, id);
  const properties = patch.properties
    ? dropNulls({ ...(current.properties as Record<string, unknown>), ...patch.properties })
    : (current.properties as Record<string, unknown>);
  const [row] = await tx
    .update(accounts)
    .set({ name: patch.name ?? current.name, properties, updatedAt: at })
    .where(eq(accounts.id, id))
    .returning();
  await recordEvent(tx, { type: "account.updated", accountId: id, data: { changes: patch }, at });
  const live = await liveSubscriptionsOf(tx, [id], at);
  return accountView(row as AccountRow, live.get(id));
}

export async function listAccounts(
  db: Executor,
  query: z.infer<typeof ListAccountsQuery>,
  at: Date,
): Promise<Page<AccountView>> {
  const cursor = decodeCursor(query.cursor, "acct");
  const rows = await db
    .select()
    .from(accounts)
    .where(
      and(
        cursor ? lt(accounts.id, cursor) : undefined,
        query.external_id ? eq(accounts.externalId, query.external_id) : undefined,
      ),
    )
    .orderBy(desc(accounts.id))
    .limit(query.limit + 1);
  const live = await liveSubscriptionsOf(
    db,
    rows.map((r) => r.id),
    at,
  );
  return toPage(rows, query.limit, (row) => accountView(row, live.get(row.id)));
}

async function clockForAccount(tx: Tx, id: string) {
  try {
    return await findTestClock(tx, id);
  } catch (error) {
    if (error instanceof DomainError && error.code === "resource_not_found")
      throw new DomainError("resource_not_found", `No test clock with id "${id}".`, { param: "test_clock" });
    throw error;
  }
}
