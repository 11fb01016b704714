import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BillingInterval } from "../periods/billing-period.ts";
import { type LifecycleState, lifecycleAt, type StoredLifecycle } from "./state.ts";

const utc = (s: string) => new Date(s);
const iso = (d: Date | null) => d?.toISOString() ?? null;
const view = (s: LifecycleState) => ({
  status: s.status,
  start: iso(s.currentPeriodStart),
  end: iso(s.currentPeriodEnd),
  endedAt: iso(s.endedAt),
});

/** A 14-day trial from Jan 10 09:00; the anchor is the trial's end, Jan 24 09:00. */
const trial: StoredLifecycle = {
  status: "trialing",
  interval: "month",
  createdAt: utc("2025-01-10T09:00:00Z"),
  trialEnd: utc("2025-01-24T09:00:00Z"),
  billingCycleAnchor: utc("2025-01-24T09:00:00Z"),
  cancelAt: null,
  endedAt: null,
};

/** Active since Jan 31 2024 12:00, billed monthly on the 31st (clamped to the month's last day). */
const monthEnd: StoredLifecycle = {
  status: "active",
  interval: "month",
  createdAt: utc("2024-01-31T12:00:00Z"),
  trialEnd: null,
  billingCycleAnchor: utc("2024-01-31T12:00:00Z"),
  cancelAt: null,
  endedAt: null,
};

describe("lifecycleAt: trials", () => {
  it("is trialing from creation until the trial's end, in a period of its own", () => {
    const trialing = {
      status: "trialing",
      start: "2025-01-10T09:00:00.000Z",
      end: "2025-01-24T09:00:00.000Z",
      endedAt: null,
    };
    expect(view(lifecycleAt(trial, utc("2025-01-10T09:00:00Z")))).toEqual(trialing);
    expect(view(lifecycleAt(trial, utc("2025-01-17T00:00:00Z")))).toEqual(trialing);
    expect(view(lifecycleAt(trial, utc("2025-01-24T08:59:59.999Z")))).toEqual(trialing);
  });

  it("is active from the trial's end (half-open), billed from the anchor", () => {
    expect(view(lifecycleAt(trial, utc("2025-01-24T09:00:00Z")))).toEqual({
      status: "active",
      start: "2025-01-24T09:00:00.000Z",
      end: "2025-02-24T09:00:00.000Z",
      endedAt: null,
    });
    expect(view(lifecycleAt(trial, utc("2025-03-01T00:00:00Z")))).toMatchObject({
      status: "active",
      start: "2025-02-24T09:00:00.000Z",
      end: "2025-03-24T09:00:00.000Z",
    });
  });

  it("keeps a stored past_due status", () => {
    const pastDue = { ...monthEnd, status: "past_due" as const };
    expect(lifecycleAt(pastDue, utc("2024-03-05T00:00:00Z")).status).toBe("past_due");
  });
});

describe("lifecycleAt: periods follow the anchor, with month-end clamping", () => {
  const period = (at: string) => {
    const s = lifecycleAt(monthEnd, utc(at));
    return [iso(s.currentPeriodStart), iso(s.currentPeriodEnd)];
  };

  it("bills an anchor on the 31st on Feb 29, then returns to the 31st", () => {
    expect(period("2024-02-01T00:00:00Z")).toEqual(["2024-01-31T12:00:00.000Z", "2024-02-29T12:00:00.000Z"]);
    expect(period("2024-02-29T11:59:59.999Z")).toEqual([
      "2024-01-31T12:00:00.000Z",
      "2024-02-29T12:00:00.000Z",
    ]);
    // An instant equal to a period's end belongs to the next period.
    expect(period("2024-02-29T12:00:00Z")).toEqual(["2024-02-29T12:00:00.000Z", "2024-03-31T12:00:00.000Z"]);
    expect(period("2024-04-30T12:00:00Z")).toEqual(["2024-04-30T12:00:00.000Z", "2024-05-31T12:00:00.000Z"]);
    expect(period("2025-02-10T00:00:00Z")).toEqual(["2025-01-31T12:00:00.000Z", "2025-02-28T12:00:00.000Z"]);
  });

  it("brings a Feb 29 annual anchor back to Feb 29 in a leap year", () => {
    const annual: StoredLifecycle = {
      ...monthEnd,
      interval: "year",
      createdAt: utc("2024-02-29T00:00:00Z"),
      billingCycleAnchor: utc("2024-02-29T00:00:00Z"),
    };
    const at = (s: string) => view(lifecycleAt(annual, utc(s)));
    expect(at("2025-03-01T00:00:00Z")).toMatchObject({
      start: "2025-02-28T00:00:00.000Z",
      end: "2026-02-28T00:00:00.000Z",
    });
    expect(at("2027-12-31T00:00:00Z")).toMatchObject({
      start: "2027-02-28T00:00:00.000Z",
      end: "2028-02-29T00:00:00.000Z",
    });
  });
});

describe("lifecycleAt: cancellation", () => {
  // Canceled at the end of the period it was requested in.
  const canceling: StoredLifecycle = { ...trial, status: "active", cancelAt: utc("2025-02-24T09:00:00Z") };

  it("stays active until cancel_at", () => {
    expect(view(lifecycleAt(canceling, utc("2025-02-24T08:59:59.999Z")))).toEqual({
      status: "active",
      start: "2025-01-24T09:00:00.000Z",
      end: "2025-02-24T09:00:00.000Z",
      endedAt: null,
    });
  });

  it("is canceled at and after cancel_at, ended at that instant, with no current period", () => {
    const ended = { status: "canceled", start: null, end: null, endedAt: "2025-02-24T09:00:00.000Z" };
    expect(view(lifecycleAt(canceling, utc("2025-02-24T09:00:00Z")))).toEqual(ended);
    expect(view(lifecycleAt(canceling, utc("2026-06-01T00:00:00Z")))).toEqual(ended);
  });

  it("ends a trial canceled at its end instead of starting to bill", () => {
    const trialThenCancel = { ...trial, cancelAt: trial.trialEnd };
    expect(lifecycleAt(trialThenCancel, utc("2025-01-20T00:00:00Z")).status).toBe("trialing");
    expect(view(lifecycleAt(trialThenCancel, utc("2025-01-24T09:00:00Z")))).toEqual({
      status: "canceled",
      start: null,
      end: null,
      endedAt: "2025-01-24T09:00:00.000Z",
    });
  });

  it("keeps a stored canceled status, whatever the instant", () => {
    const endedAt = utc("2025-02-10T15:30:00Z");
    const stored: StoredLifecycle = { ...canceling, status: "canceled", endedAt };
    for (const at of ["2025-02-01T00:00:00Z", "2025-02-10T15:30:00Z", "2030-01-01T00:00:00Z"])
      expect(view(lifecycleAt(stored, utc(at)))).toEqual({
        status: "canceled",
        start: null,
        end: null,
        endedAt: "2025-02-10T15:30:00.000Z",
      });
    // Without an endedAt, the cancellation instant stands in for it.
    const noEndedAt: StoredLifecycle = { ...canceling, status: "canceled", endedAt: null };
    expect(iso(lifecycleAt(noEndedAt, utc("2025-02-01T00:00:00Z")).endedAt)).toBe("2025-02-24T09:00:00.000Z");
  });
});

// ——— Property tests ———————————————————————————————————————————————————————————————————————

const instant = (min: string, max: string) => fc.date({ min: utc(min), max: utc(max), noInvalidDate: true });
const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

describe("lifecycleAt: properties", () => {
  const subscription = fc
    .record({
      created: instant("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
      trialDays: fc.integer({ min: 0, max: 60 }),
      interval: fc.constantFrom<BillingInterval>("month", "year"),
      offset: fc.integer({ min: 0, max: 6 * 365 * 86_400_000 }),
    })
    .map(({ created, trialDays, interval, offset }) => {
      const trialEnd = trialDays > 0 ? new Date(created.getTime() + trialDays * 86_400_000) : null;
      const sub: StoredLifecycle = {
        status: trialEnd ? "trialing" : "active",
        interval,
        createdAt: created,
        trialEnd,
        billingCycleAnchor: trialEnd ?? created,
        cancelAt: null,
        endedAt: null,
      };
      return { sub, at: new Date(created.getTime() + offset) };
    });

  it("a billed period contains the instant, and its bounds fall on the anchor (clamped)", () => {
    fc.assert(
      fc.property(subscription, ({ sub, at }) => {
        const s = lifecycleAt(sub, at);
        if (sub.trialEnd && at < sub.trialEnd) {
          expect(s.status).toBe("trialing");
          expect(s.currentPeriodStart).toEqual(sub.createdAt);
          expect(s.currentPeriodEnd).toEqual(sub.trialEnd);
          return;
        }
        expect(s.status).toBe("active");
        const start = s.currentPeriodStart as Date;
        const end = s.currentPeriodEnd as Date;
        expect(start.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime()).toBeLessThan(end.getTime());
        const anchor = sub.billingCycleAnchor;
        const months = sub.interval === "month" ? 1 : 12;
        const monthIndex = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();
        expect(monthIndex(end) - monthIndex(start)).toBe(months);
        for (const bound of [start, end]) {
          const day = Math.min(anchor.getUTCDate(), daysIn(bound.getUTCFullYear(), bound.getUTCMonth()));
          expect(bound.getUTCDate()).toBe(day);
          expect(bound.getTime() % 86_400_000).toBe(anchor.getTime() % 86_400_000);
          expect((monthIndex(bound) - monthIndex(anchor)) % months).toBe(0);
        }
      }),
    );
  });

  it("is canceled exactly from cancel_at on", () => {
    fc.assert(
      fc.property(subscription, fc.integer({ min: -400, max: 400 }), ({ sub, at }, days) => {
        const cancelAt = new Date(at.getTime() + days * 86_400_000);
        const s = lifecycleAt({ ...sub, cancelAt }, at);
        if (at >= cancelAt)
          expect(s).toEqual({
            status: "canceled",
            currentPeriodStart: null,
            currentPeriodEnd: null,
            endedAt: cancelAt,
          });
        else expect(s).toEqual(lifecycleAt(sub, at));
      }),
    );
  });
});
