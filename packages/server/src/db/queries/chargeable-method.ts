import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import { paymentMethods } from "../schema/index.ts";

/**
 * Which method a charge takes: the one named, or the account's default; never a detached one.
 * A condition on payment_methods, so a statement that reads more than the method can embed it;
 * `id` may be an SQL expression, the default then taken where it is null.
 */
export function chargeableMethodWhere(accountId: SQL | string, id: SQL | string | undefined): SQL {
  return and(
    eq(paymentMethods.accountId, accountId),
    isNull(paymentMethods.detachedAt),
    id === undefined
      ? eq(paymentMethods.isDefault, true)
      : typeof id === "string"
        ? eq(paymentMethods.id, id)
        : sql`coalesce(${paymentMethods.id} = ${id}, ${paymentMethods.isDefault})`,
  ) as SQL;
}
