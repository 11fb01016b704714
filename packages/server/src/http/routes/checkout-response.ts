import { type CheckoutView, checkoutView } from "../../services/checkout/index.ts";
import type { CheckoutRow } from "../../services/checkout/setup.ts";
import { ApiError } from "../problem.ts";

/**
 * A checkout's state as an HTTP answer: 200 once charged and applied, 202 while the payment is
 * pending or awaits the customer (3-D Secure), and a problem for a decline (402) or a checkout that
 * was given back or canceled (409, its own failure code).
 */
export function checkoutResponse(row: CheckoutRow): { status: number; body: CheckoutView } {
  const view = checkoutView(row);
  switch (row.status) {
    case "succeeded":
      return { status: 200, body: view };
    case "failed":
      throw new ApiError(
        402,
        "payment_declined",
        `The payment was declined: ${row.failureMessage ?? "no reason given"} (${row.failureCode}). Nothing was charged or changed.`,
        { param: "payment_method" },
      );
    case "canceled":
    case "refund_pending":
    case "refunded":
      throw new ApiError(
        409,
        row.failureCode ?? "checkout_canceled",
        row.failureMessage ?? "The checkout was canceled.",
        {
          param: "quote",
        },
      );
    default:
      return { status: 202, body: view };
  }
}
