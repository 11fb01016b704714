import { describe, expect, it } from "vitest";
import {
  CHECKOUT_STATUSES,
  holdsQuote,
  isLiveCheckout,
  LIVE_CHECKOUT_STATUSES,
  QUOTE_HOLDING_STATUSES,
  QUOTE_RELEASING_STATUSES,
} from "./status.ts";

describe("checkout status sets", () => {
  it("a checkout holds its quote unless it failed or was canceled", () => {
    expect([...QUOTE_HOLDING_STATUSES].sort()).toEqual(
      ["pending", "requires_action", "refund_pending", "succeeded", "refunded"].sort(),
    );
    for (const status of CHECKOUT_STATUSES)
      expect(holdsQuote(status)).toBe(!(QUOTE_RELEASING_STATUSES as readonly string[]).includes(status));
  });

  it("a live checkout (in flight) holds its quote; a finished one is not live", () => {
    for (const status of LIVE_CHECKOUT_STATUSES) {
      expect(isLiveCheckout(status)).toBe(true);
      expect(holdsQuote(status)).toBe(true);
    }
    for (const status of ["succeeded", "refunded", "failed", "canceled"])
      expect(isLiveCheckout(status)).toBe(false);
  });
});
