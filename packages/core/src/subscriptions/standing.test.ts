import { describe, expect, it } from "vitest";
import { delinquentEnding, standingChange } from "./standing.ts";
import type { SubscriptionStatus } from "./state.ts";

const at = new Date("2026-03-01T12:00:00Z");

describe("standingChange: the standing follows the invoices", () => {
  it("an invoice open after a failed attempt makes an active subscription past_due", () => {
    expect(standingChange("active", true)).toEqual({ status: "past_due", reason: "payment_failed" });
  });

  it("past_due stays past_due while an invoice is still owed, and needs no event", () => {
    expect(standingChange("past_due", true)).toBeNull();
  });

  it("nothing owed any more brings a past_due subscription back to active", () => {
    expect(standingChange("past_due", false)).toEqual({ status: "active", reason: "invoice_settled" });
  });

  it("nothing owed leaves active and trialing subscriptions as they are", () => {
    expect(standingChange("active", false)).toBeNull();
    expect(standingChange("trialing", false)).toBeNull();
  });

  it("a trial with an invoice owed is past_due", () => {
    expect(standingChange("trialing", true)).toEqual({ status: "past_due", reason: "payment_failed" });
  });

  it("a canceled subscription stays canceled, owed or settled", () => {
    expect(standingChange("canceled", true)).toBeNull();
    expect(standingChange("canceled", false)).toBeNull();
  });
});

describe("delinquentEnding: retries exhausted", () => {
  const live = (status: SubscriptionStatus, cancelAt: string | null, canceledAt: string | null = null) => ({
    status,
    cancelAt: cancelAt ? new Date(cancelAt) : null,
    canceledAt: canceledAt ? new Date(canceledAt) : null,
  });

  it("ends the subscription now, as delinquent churn, its last usage waived", () => {
    expect(delinquentEnding(live("past_due", null), at)).toEqual({
      endedAt: at,
      canceledAt: at,
      reason: "delinquent",
      finalUsage: "waived",
    });
  });

  it("a cancellation scheduled for later does not change that", () => {
    expect(delinquentEnding(live("past_due", "2026-03-01T12:00:01Z"), at)).toMatchObject({
      endedAt: at,
      reason: "delinquent",
    });
  });

  it("a scheduled cancellation that has passed ended it then, by the customer's choice: no churn reason", () => {
    const requested = "2026-02-10T00:00:00Z";
    for (const cancelAt of ["2026-02-28T00:00:00Z", "2026-03-01T12:00:00Z"])
      expect(delinquentEnding(live("past_due", cancelAt, requested), at)).toEqual({
        endedAt: new Date(cancelAt),
        canceledAt: new Date(requested),
        reason: null,
        finalUsage: "waived",
      });
  });

  it("a subscription already canceled is left alone", () => {
    expect(delinquentEnding(live("canceled", "2026-02-28T00:00:00Z"), at)).toBeNull();
  });
});
