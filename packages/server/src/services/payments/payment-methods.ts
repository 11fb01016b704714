import type { AttachPaymentMethodInput } from "@uptier/core/api";
import { and, desc, eq, isNull } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { chargeableMethodWhere } from "../../db/queries/chargeable-method.ts";
import { paymentMethods } from "../../db/schema/index.ts";
import { SANDBOX_CARDS } from "../../gateways/sandbox.ts";
import { newId } from "../../ids.ts";
import { findAccount } from "../accounts/accounts.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";

/**
 * Stored payment methods are gateway tokens only: a card number never reaches Uptier (the browser
 * gives it to the gateway, which returns a token). Anything that looks like a card number is refused.
 */
export type PaymentMethodRow = typeof paymentMethods.$inferSelect;
type Row = PaymentMethodRow;

export function paymentMethodView(row: Row) {
  return {
    id: row.id,
    object: "payment_method" as const,
    account: row.accountId,
    gateway: row.gateway,
    brand: row.brand,
    last4: row.last4,
    exp_month: row.expMonth,
    exp_year: row.expYear,
    default: row.isDefault && row.detachedAt === null,
    created: row.createdAt.toISOString(),
    detached_at: row.detachedAt?.toISOString() ?? null,
  };
}

export async function attachPaymentMethod(
  tx: Tx,
  billing: BillingContext,
  accountId: string,
  input: z.infer<typeof AttachPaymentMethodInput>,
  at: Date,
) {
  const account = await findAccount(tx, accountId);
  if (/^\d{12,19}$/.test(input.token))
    throw new DomainError("card_number_not_accepted", "Send the gateway's token, never a card number.", {
      param: "token",
    });
  const gateway = input.gateway ?? billing.gateways.defaultGateway;
  if (!billing.gateways.get(gateway))
    throw new DomainError("gateway_not_configured", `The ${gateway} gateway is not configured here.`, {
      param: "gateway",
    });
  // A test clock's accounts pay in the sandbox only: a live charge never runs on simulated time.
  if (account.testClockId && gateway !== "sandbox")
    throw new DomainError(
      "test_clock_live_gateway",
      `Account ${accountId} is on test clock ${account.testClockId}: only the sandbox gateway can charge it.`,
      { param: "gateway" },
    );
  const card = gateway === "sandbox" ? SANDBOX_CARDS[input.token] : undefined;
  if (gateway === "sandbox" && !card)
    throw new DomainError("invalid_payment_method", `"${input.token}" is not a sandbox test token.`, {
      param: "token",
    });
  // Lock the account's methods so two attaches cannot both become the default.
  const existing = await tx
    .select()
    .from(paymentMethods)
    .where(and(eq(paymentMethods.accountId, accountId), isNull(paymentMethods.detachedAt)))
    .for("update");
  const makeDefault = input.default === true || !existing.some((m) => m.isDefault);
  if (makeDefault)
    await tx
      .update(paymentMethods)
      .set({ isDefault: false })
      .where(and(eq(paymentMethods.accountId, accountId), eq(paymentMethods.isDefault, true)));
  const [row] = await tx
    .insert(paymentMethods)
    .values({
      id: newId("paymentMethod", at),
      accountId,
      gateway,
      token: input.token,
      customerRef: input.customer ?? null,
      brand: input.brand ?? card?.brand ?? null,
      last4: input.last4 ?? card?.last4 ?? null,
      expMonth: input.exp_month ?? card?.expMonth ?? null,
      expYear: input.exp_year ?? card?.expYear ?? null,
      isDefault: makeDefault,
      createdAt: at,
    })
    .returning();
  const view = paymentMethodView(row as Row);
  await recordEvent(tx, { type: "payment_method.attached", accountId, data: { payment_method: view }, at });
  return view;
}

export async function listPaymentMethods(db: Executor, accountId: string) {
  await findAccount(db, accountId);
  const rows = await db
    .select()
    .from(paymentMethods)
    .where(and(eq(paymentMethods.accountId, accountId), isNull(paymentMethods.detachedAt)))
    .orderBy(desc(paymentMethods.id));
  return { object: "list" as const, data: rows.map(paymentMethodView), has_more: false, next_cursor: null };
}

export async function detachPaymentMethod(tx: Tx, accountId: string, id: string, at: Date) {
  const [row] = await tx
    .select()
    .from(paymentMethods)
    .where(and(eq(paymentMethods.accountId, accountId), eq(paymentMethods.id, id)));
  if (!row || row.detachedAt) throw notFound("payment method", id);
  const [updated] = await tx
    .update(paymentMethods)
    .set({ detachedAt: at, isDefault: false })
    .where(eq(paymentMethods.id, id))
    .returning();
  const view = paymentMethodView(updated as Row);
  await recordEvent(tx, { type: "payment_method.detached", accountId, data: { payment_method: view }, at });
  return view;
}

/** The chargeable method found (see chargeableMethodWhere), or why there is none. */
export function requireChargeable(row: Row | null | undefined, id: string | undefined): Row {
  if (!row)
    throw id
      ? notFound("payment method", id)
      : new DomainError(
          "payment_method_required",
          "The account has no default payment method to charge; attach one first.",
          { param: "payment_method" },
        );
  return row;
}

/** The method a checkout charges: the one named, or the account's default. */
export async function chargeableMethod(
  db: Executor,
  accountId: string,
  id: string | undefined,
): Promise<Row> {
  const [row] = await db.select().from(paymentMethods).where(chargeableMethodWhere(accountId, id));
  return requireChargeable(row, id);
}
