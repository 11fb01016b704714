import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addMonthsClamped } from "../periods/billing-period.ts";
import { accountSignals, at, days, subscription } from "../testing/signals.ts";
import type { TriggerOf } from "./document.ts";
import { accountAge, beforeRenewal, planTenure, subscriptionMonth } from "./trigger-time.ts";

const when = (iso: string, over: Parameters<typeof accountSignals>[0] = {}) =>
  accountSignals({ at: at(iso), ...over });

describe("plan_tenure: 30+ days on Free", () => {
  const trigger = { kind: "plan_tenure", plan: "free", days: 30 } as const;
  const onFree = subscription({ plan: "free", planSince: at("2026-05-01T08:00:00Z") });

  it("fires from 30 days on the plan, once per stint, and says when it is due before", () => {
    expect(planTenure(trigger, when("2026-05-31T07:59:59Z", { subscription: onFree }))).toMatchObject({
      fired: false,
      nextDueAt: at("2026-05-31T08:00:00Z"),
    });
    expect(planTenure(trigger, when("2026-05-31T08:00:00Z", { subscription: onFree }))).toEqual({
      fired: true,
      cycle: "free/2026-05-01T08:00:00.000Z",
      reason: '30+ days on "free" (since 2026-05-01T08:00:00.000Z)',
      nextDueAt: null,
    });
  });

  it("does not fire on another plan, nor without a subscription or once it has ended", () => {
    expect(planTenure(trigger, when("2026-07-01T00:00:00Z"))).toMatchObject({
      fired: false,
      nextDueAt: null,
    });
    expect(planTenure(trigger, when("2026-07-01T00:00:00Z", { subscription: null })).fired).toBe(false);
    const ended = subscription({ plan: "free", planSince: at("2026-05-01T08:00:00Z"), status: "canceled" });
    expect(planTenure(trigger, when("2026-07-01T00:00:00Z", { subscription: ended })).fired).toBe(false);
  });

  it("any plan when none is named", () => {
    expect(planTenure({ kind: "plan_tenure", days: 90 }, when("2026-05-01T10:00:00Z")).fired).toBe(true);
  });
});

describe("subscription_month: months 3, 6, 9, 12", () => {
  const trigger: TriggerOf<"subscription_month"> = {
    kind: "subscription_month",
    months: [3, 6, 9, 12],
    days_before: 0,
  };
  // started Jan 31 10:00: month 1 is Feb 28 (clamped), month 3 Apr 30, month 6 Jul 31
  const started = subscription({ startedAt: at("2026-01-31T10:00:00Z") });

  it("fires month 3 from Apr 30 (month-end clamped) until month 4 begins, and names month 6 next", () => {
    expect(subscriptionMonth(trigger, when("2026-04-30T09:59:59Z", { subscription: started }))).toMatchObject(
      {
        fired: false,
        nextDueAt: at("2026-04-30T10:00:00Z"),
      },
    );
    expect(subscriptionMonth(trigger, when("2026-04-30T10:00:00Z", { subscription: started }))).toEqual({
      fired: true,
      cycle: "2026-01-31T10:00:00.000Z/month-3",
      reason: "month 3 of the subscription begun 2026-01-31T10:00:00.000Z",
      nextDueAt: at("2026-07-31T10:00:00Z"),
    });
    expect(subscriptionMonth(trigger, when("2026-05-30T23:00:00Z", { subscription: started }))).toMatchObject(
      {
        cycle: "2026-01-31T10:00:00.000Z/month-3",
      },
    );
    // month 4 began May 31: a late scheduler does not fire a month that has passed
    expect(subscriptionMonth(trigger, when("2026-05-31T10:00:00Z", { subscription: started }))).toMatchObject(
      {
        fired: false,
        nextDueAt: at("2026-07-31T10:00:00Z"),
      },
    );
  });

  it("fires days before a point with days_before (the month-9 nudge before its invoice)", () => {
    const before = { ...trigger, months: [9], days_before: 7 };
    // month 9: Oct 31 10:00, less 7 days
    expect(subscriptionMonth(before, when("2026-10-24T10:00:00Z", { subscription: started }))).toMatchObject({
      fired: true,
      cycle: "2026-01-31T10:00:00.000Z/month-9",
    });
    expect(subscriptionMonth(before, when("2026-10-24T09:00:00Z", { subscription: started })).fired).toBe(
      false,
    );
  });

  it("is done after the last point; needs a subscription", () => {
    expect(subscriptionMonth(trigger, when("2027-03-01T00:00:00Z", { subscription: started }))).toMatchObject(
      {
        fired: false,
        nextDueAt: null,
      },
    );
    expect(subscriptionMonth(trigger, when("2026-04-30T10:00:00Z", { subscription: null })).fired).toBe(
      false,
    );
  });

  it("property: month m fires exactly from start + m months (clamped) to start + m + 1 months", () => {
    fc.assert(
      fc.property(
        fc.date({ min: at("2000-01-01T00:00:00Z"), max: at("2090-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.integer({ min: 1, max: 36 }),
        (startedAt, m) => {
          const sub = subscription({ startedAt });
          const t = { kind: "subscription_month" as const, months: [m], days_before: 0 };
          const point = addMonthsClamped(startedAt, m);
          const next = addMonthsClamped(startedAt, m + 1);
          const justBefore = subscriptionMonth(
            t,
            accountSignals({ at: new Date(point.getTime() - 1), subscription: sub }),
          );
          expect(justBefore).toMatchObject({ fired: false, nextDueAt: point });
          expect(point.getUTCDate()).toBe(Math.min(startedAt.getUTCDate(), point.getUTCDate()));
          for (const instant of [point, new Date(next.getTime() - 1)])
            expect(subscriptionMonth(t, accountSignals({ at: instant, subscription: sub }))).toMatchObject({
              fired: true,
              cycle: `${startedAt.toISOString()}/month-${m}`,
            });
          expect(subscriptionMonth(t, accountSignals({ at: next, subscription: sub })).fired).toBe(false);
        },
      ),
    );
  });
});

describe("before_renewal", () => {
  const trigger = { kind: "before_renewal", days: 7 } as const;
  const renewing = subscription({ periodEnd: at("2026-06-30T10:00:00Z") });

  it("fires from N days before the period ends until it ends, once per period", () => {
    expect(beforeRenewal(trigger, when("2026-06-23T09:59:59Z", { subscription: renewing }))).toMatchObject({
      fired: false,
      nextDueAt: at("2026-06-23T10:00:00Z"),
    });
    expect(beforeRenewal(trigger, when("2026-06-23T10:00:00Z", { subscription: renewing }))).toMatchObject({
      fired: true,
      cycle: "2026-06-30T10:00:00.000Z",
      nextDueAt: at("2026-06-30T10:00:00Z"),
    });
    expect(beforeRenewal(trigger, when("2026-06-30T10:00:00Z", { subscription: renewing })).fired).toBe(
      false,
    );
  });

  it("does not fire for a subscription that will not renew or is not active", () => {
    const ending = subscription({ cancelAt: at("2026-06-30T10:00:00Z") });
    expect(beforeRenewal(trigger, when("2026-06-25T00:00:00Z", { subscription: ending })).fired).toBe(false);
    const pastDue = subscription({ status: "past_due" });
    expect(beforeRenewal(trigger, when("2026-06-25T00:00:00Z", { subscription: pastDue })).fired).toBe(false);
    expect(beforeRenewal(trigger, when("2026-06-25T00:00:00Z", { subscription: null })).fired).toBe(false);
  });
});

describe("account_age: seed 001's cross-sell windows", () => {
  const created = at("2026-01-01T00:00:00Z");
  const aged = (d: number) =>
    accountSignals({
      at: new Date(created.getTime() + days(d)),
      account: { createdAt: created, properties: {}, segment: "smb" },
    });
  const windows = [
    { kind: "account_age", from_days: 30, to_days: 90 },
    { kind: "account_age", from_days: 90, to_days: 180 },
    { kind: "account_age", from_days: 180 },
  ] as const;
  const firing = (d: number) => windows.filter((w) => accountAge(w, aged(d)).fired).map((w) => w.from_days);

  it("days 0–30: none; 30–90, 90–180 and 180+ each in its own window, from inclusive, to exclusive", () => {
    expect(firing(0)).toEqual([]);
    expect(firing(29.99)).toEqual([]);
    expect(firing(30)).toEqual([30]);
    expect(firing(89.99)).toEqual([30]);
    expect(firing(90)).toEqual([90]);
    expect(firing(180)).toEqual([180]);
    expect(firing(2000)).toEqual([180]);
  });

  it("keys one cycle per window and says when the window opens", () => {
    expect(accountAge(windows[0], aged(45))).toMatchObject({
      fired: true,
      cycle: "age/30-90",
      nextDueAt: null,
    });
    expect(accountAge(windows[2], aged(45))).toMatchObject({
      fired: false,
      nextDueAt: new Date(created.getTime() + days(180)),
    });
    expect(accountAge(windows[2], aged(200))).toMatchObject({ cycle: "age/180-on" });
    expect(accountAge(windows[0], aged(100))).toMatchObject({ fired: false, nextDueAt: null });
  });
});
