import { type SQL, sql } from "drizzle-orm";
import type { Executor } from "../client.ts";

/**
 * The seats in use on an account: its members who hold a seat, invited or active (not removed). A
 * scalar subquery, for statements that read more than the count.
 */
export const seatsInUseOf = (accountId: SQL | string) =>
  sql<number>`(select count(*)::int from members m where m.account_id = ${accountId} and m.status <> 'removed')`;

export async function seatsInUse(db: Executor, accountId: string): Promise<number> {
  const result = (await db.execute(sql`select ${seatsInUseOf(accountId)} as used`)) as unknown as {
    rows: { used: number }[];
  };
  return Number(result.rows[0]?.used ?? 0);
}

/** The seats in use on each of several accounts, by account id. */
export async function seatsInUseByAccount(
  db: Executor,
  accountIds: readonly string[],
): Promise<Map<string, number>> {
  if (accountIds.length === 0) return new Map();
  const result = (await db.execute(
    sql`select x.id, ${seatsInUseOf(sql`x.id`)} as used
      from jsonb_array_elements_text(${JSON.stringify([...new Set(accountIds)])}::jsonb) as x(id)`,
  )) as unknown as { rows: { id: string; used: number }[] };
  return new Map(result.rows.map((r) => [r.id, Number(r.used)]));
}
