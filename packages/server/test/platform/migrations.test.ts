import { type SQL, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openTestDatabase, TEST_ENGINE } from "../support/harness.ts";

describe(`migrations on ${TEST_ENGINE}`, () => {
  it("create the whole schema, run again as a no-op, and keep money and time in exact types", async () => {
    const database = await openTestDatabase();
    // node-postgres and PGlite both answer { rows }; drizzle's shared type leaves the result open.
    const rows = async <T>(query: SQL) =>
      ((await database.db.execute(query)) as unknown as { rows: T[] }).rows;
    try {
      await database.migrate();
      const names = (
        await rows<{ table_name: string }>(
          sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
        )
      ).map((r) => r.table_name);
      for (const table of [
        "accounts",
        "members",
        "subscriptions",
        "plan_versions",
        "domain_events",
        "idempotency_keys",
        "api_keys",
      ])
        expect(names).toContain(table);
      const columns = await rows<{ table_name: string; column_name: string; data_type: string }>(
        sql`select table_name, column_name, data_type from information_schema.columns where table_schema = 'public'`,
      );
      const instants = columns.filter(
        (c) =>
          c.column_name.endsWith("_at") ||
          c.column_name.endsWith("_end") ||
          c.column_name === "billing_cycle_anchor",
      );
      expect(instants.length).toBeGreaterThan(10);
      for (const c of instants)
        expect(`${c.table_name}.${c.column_name}: ${c.data_type}`).toMatch(/timestamp with time zone$/);
      const tenantTables = ["members", "subscriptions", "subscription_add_ons"];
      for (const table of tenantTables)
        expect(columns.some((c) => c.table_name === table && c.column_name === "account_id")).toBe(true);
    } finally {
      await database.close();
      await database.dropDatabase();
    }
  });
});
