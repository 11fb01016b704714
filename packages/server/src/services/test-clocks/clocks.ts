import type { CreateTestClockInput, ListTestClocksQuery, TestClockView } from "@uptier/core/api";
import { and, count, desc, eq, inArray, isNull, lt } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { accounts, testClocks } from "../../db/schema/index.ts";
import type { Gateways } from "../../gateways/gateway.ts";
import { newId } from "../../ids.ts";
import { DomainError, notFound } from "../errors.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";

/**
 * Test clocks (Stripe's model): create, read, list, delete. A deleted clock is gone from the API;
 * its accounts stay on it, frozen at its last time, and no job ever runs for them again. Advancing
 * is advance.ts. Only the sandbox gateway takes part: an account on a clock never pays through a
 * live gateway (payment-methods.ts refuses to attach one).
 */
export type TestClockRow = typeof testClocks.$inferSelect;

export function testClockView(row: TestClockRow, accountCount: number): TestClockView {
  return {
    id: row.id,
    object: "test_clock",
    name: row.name,
    frozen_time: row.frozenTime.toISOString(),
    status: row.status as TestClockView["status"],
    advancing_to: row.advancingTo?.toISOString() ?? null,
    steps: row.steps,
    accounts: accountCount,
    created: row.createdAt.toISOString(),
  };
}

/** Test clocks exist where the sandbox gateway does (always, today): refused otherwise. */
export function requireSandbox(gateways: Gateways) {
  if (!gateways.get("sandbox"))
    throw new DomainError("test_clock_requires_sandbox", "Test clocks work with the sandbox gateway only.");
}

export async function createTestClock(
  tx: Tx,
  gateways: Gateways,
  input: z.infer<typeof CreateTestClockInput>,
  at: Date,
): Promise<TestClockView> {
  requireSandbox(gateways);
  const [row] = await tx
    .insert(testClocks)
    .values({
      id: newId("testClock", at),
      name: input.name ?? null,
      frozenTime: new Date(input.frozen_time),
      status: "ready",
      createdAt: at,
    })
    .returning();
  return testClockView(row as TestClockRow, 0);
}

/** A clock not deleted, or 404; `lock` takes its row lock (an advance, a delete). */
export async function findTestClock(db: Executor, id: string, lock = false): Promise<TestClockRow> {
  const query = db
    .select()
    .from(testClocks)
    .where(and(eq(testClocks.id, id), isNull(testClocks.deletedAt)));
  const [row] = lock ? await query.for("update") : await query;
  if (!row) throw notFound("test clock", id);
  return row;
}

async function accountCounts(db: Executor, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ clock: accounts.testClockId, n: count() })
    .from(accounts)
    .where(inArray(accounts.testClockId, [...ids]))
    .groupBy(accounts.testClockId);
  return new Map(rows.map((r) => [r.clock as string, r.n]));
}

export async function getTestClock(db: Executor, id: string): Promise<TestClockView> {
  const row = await findTestClock(db, id);
  return testClockView(row, (await accountCounts(db, [id])).get(id) ?? 0);
}

export async function listTestClocks(
  db: Executor,
  query: z.infer<typeof ListTestClocksQuery>,
): Promise<Page<TestClockView>> {
  const cursor = decodeCursor(query.cursor, "clock");
  const rows = await db
    .select()
    .from(testClocks)
    .where(and(isNull(testClocks.deletedAt), cursor ? lt(testClocks.id, cursor) : undefined))
    .orderBy(desc(testClocks.id))
    .limit(query.limit + 1);
  const counts = await accountCounts(
    db,
    rows.map((r) => r.id),
  );
  return toPage(rows, query.limit, (row) => testClockView(row, counts.get(row.id) ?? 0));
}

/** Deletes a clock (Stripe's answer); one advancing is refused until it is ready. */
export async function deleteTestClock(tx: Tx, id: string, at: Date) {
  const row = await findTestClock(tx, id, true);
  if (row.status === "advancing")
    throw new DomainError(
      "test_clock_advancing",
      `Test clock ${id} is advancing; delete it once it is ready.`,
    );
  await tx.update(testClocks).set({ deletedAt: at }).where(eq(testClocks.id, id));
  return { id, object: "test_clock" as const, deleted: true as const };
}
