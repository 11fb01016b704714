import { sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import type { BillingContext } from "../context.ts";

/**
 * Credit-note numbers: their own gap-free sequence per vendor ("UPT-CN-000001"), apart from the
 * invoices'. As invoice numbers are: a counter row updated in the credit note's transaction (a
 * sequence would leave gaps on rollback), locked until it commits.
 */
export async function takeCreditNoteNumber(
  tx: Tx,
  billing: Pick<BillingContext, "vendor" | "invoicePrefix">,
): Promise<{ number: string; sequence: number }> {
  const result = await tx.execute(
    sql`insert into credit_note_counters (vendor, prefix, last_number)
        values (${billing.vendor}, ${`${billing.invoicePrefix}-CN`}, 1)
        on conflict (vendor) do update set last_number = credit_note_counters.last_number + 1
        returning prefix, last_number`,
  );
  const row = (result as unknown as { rows: { prefix: string; last_number: number | string }[] }).rows[0];
  if (!row) throw new Error("credit note counter returned nothing");
  const sequence = Number(row.last_number);
  return { number: `${row.prefix}-${String(sequence).padStart(6, "0")}`, sequence };
}
