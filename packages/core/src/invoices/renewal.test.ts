import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FeatureDefinition, MeterDefinition } from "../catalog/document.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { type BillingInterval, periodAt } from "../periods/billing-period.ts";
import {
  recurringCharges,
  type SubscribedAddOn,
  type SubscriptionShape,
} from "../subscriptions/recurring.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { nextRetryAt, parseRetrySchedule } from "./dunning.ts";
import {
  finalUsage,
  nextRenewalPeriod,
  overageLines,
  type RenewalPeriod,
  renewalDue,
  renewalLines,
} from "./renewal.ts";
import {
  invoicePostings,
  invoiceTotals,
  paymentPostings,
  voidPostings,
  writeOffPostings,
  writeOffReversalPostings,
} from "./totals.ts";

const utc = (iso: string) => new Date(iso);
const plan = (key: string) => DEMO_CATALOG.plans[key] as ResolvedPlan;
const addOn = (key: string, quantity = 1): SubscribedAddOn => ({
  key,
  definition: DEMO_CATALOG.add_ons[key] as SubscribedAddOn["definition"],
  quantity,
});
const shape = (
  planKey: string,
  seats: number,
  addOns: SubscribedAddOn[] = [],
  interval: BillingInterval = "month",
): SubscriptionShape => ({ plan: plan(planKey), interval, seats, addOns });

describe("renewalLines: the new period's recurring items, in advance, never prorated", () => {
  it("Pro monthly with 12 seats and SSO: $249 + 2 × $15 + $49 = $328", () => {
    const period = { start: utc("2026-02-01T00:00:00Z"), end: utc("2026-03-01T00:00:00Z") };
    const lines = renewalLines({ shape: shape("pro", 12, [addOn("sso")]), period });
    expect(lines.map((l) => [l.item, l.description, l.quantity, l.unitAmount, l.amount])).toEqual([
      ["plan", "Pro plan (monthly)", 1, null, 24_900],
      ["seats", "2 × Pro seat", 2, 1500, 3000],
      ["add_on:sso", "1 × SSO", 1, null, 4900],
    ]);
    expect(lines.every((l) => !l.proration && l.kind === "charge" && l.periodStart === period.start)).toBe(
      true,
    );
  });
  it("leaves out seats within the included ones, keeps a free plan's line at 0", () => {
    const period = { start: utc("2026-02-01T00:00:00Z"), end: utc("2026-03-01T00:00:00Z") };
    expect(renewalLines({ shape: shape("starter", 5), period }).map((l) => l.item)).toEqual(["plan"]);
    expect(renewalLines({ shape: shape("free", 2), period }).map((l) => l.amount)).toEqual([0]);
  });
  it("property: lines are never negative and sum to the subscription's recurring amount", () => {
    const period = { start: utc("2026-02-01T00:00:00Z"), end: utc("2026-03-01T00:00:00Z") };
    fc.assert(
      fc.property(
        fc.constantFrom("starter", "pro", "business"),
        fc.constantFrom<BillingInterval>("month", "year"),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (planKey, interval, seats, packs, support) => {
          const addOns = [
            ...(packs > 0 ? [addOn("storage_pack", packs)] : []),
            ...(support && planKey !== "starter" ? [addOn("premium_support")] : []),
          ];
          const s = shape(planKey, seats, addOns, interval);
          const lines = renewalLines({ shape: s, period });
          expect(lines.every((l) => l.amount >= 0 && Number.isSafeInteger(l.amount))).toBe(true);
          const sum = lines.reduce((t, l) => t + l.amount, 0);
          expect(sum).toBe(recurringCharges(s).total);
          // the invoice's total is the sum of its lines, and what is due never exceeds it
          const totals = invoiceTotals(lines, 5000);
          expect(totals.subtotal).toBe(sum);
          expect(totals.amountDue + totals.creditApplied).toBe(sum);
        },
      ),
    );
  });
});

describe("nextRenewalPeriod: the first period not billed yet", () => {
  const anchor31 = utc("2026-01-31T00:00:00Z");
  it("anchor on the 31st: January is covered, February ends on the 28th, March returns to the 31st", () => {
    const feb = nextRenewalPeriod({
      anchor: anchor31,
      interval: "month",
      coveredAt: utc("2026-01-31T00:00:00Z"),
    });
    expect(feb).toEqual({ start: utc("2026-02-28T00:00:00Z"), end: utc("2026-03-31T00:00:00Z") });
    const mar = nextRenewalPeriod({ anchor: anchor31, interval: "month", coveredAt: feb.start });
    expect(mar).toEqual({ start: utc("2026-03-31T00:00:00Z"), end: utc("2026-04-30T00:00:00Z") });
  });
  it("a subscription created mid-period renews at the period's end; annual at the anniversary", () => {
    expect(
      nextRenewalPeriod({
        anchor: utc("2026-01-01T00:00:00Z"),
        interval: "month",
        coveredAt: utc("2026-01-17T09:30:00Z"),
      }).start,
    ).toEqual(utc("2026-02-01T00:00:00Z"));
    expect(
      nextRenewalPeriod({
        anchor: utc("2024-02-29T00:00:00Z"),
        interval: "year",
        coveredAt: utc("2024-02-29T00:00:00Z"),
      }),
    ).toEqual({ start: utc("2025-02-28T00:00:00Z"), end: utc("2026-02-28T00:00:00Z") });
  });
  it("an anchor after the covered instant (a trial's end, a re-anchored term) starts the first period", () => {
    const trialEnd = utc("2026-01-31T00:00:00Z");
    expect(
      nextRenewalPeriod({ anchor: trialEnd, interval: "month", coveredAt: utc("2026-01-17T00:00:00Z") }),
    ).toEqual({ start: trialEnd, end: utc("2026-02-28T00:00:00Z") });
  });
  it("property: the next period starts after the covered instant, on a boundary, and is due only from its start", () => {
    fc.assert(
      fc.property(
        fc.date({ min: utc("2020-01-01T00:00:00Z"), max: utc("2030-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.integer({ min: -400 * 86_400, max: 800 * 86_400 }),
        fc.constantFrom<BillingInterval>("month", "year"),
        (anchor, offsetSeconds, interval) => {
          const coveredAt = new Date(anchor.getTime() + offsetSeconds * 1000);
          const next = nextRenewalPeriod({ anchor, interval, coveredAt });
          expect(next.start.getTime()).toBeGreaterThan(coveredAt.getTime());
          expect(periodAt(anchor, interval, next.start).start).toEqual(next.start);
          // no whole period is skipped: the covered instant's period ends where the next one starts
          if (anchor.getTime() <= coveredAt.getTime())
            expect(periodAt(anchor, interval, coveredAt).end).toEqual(next.start);
          expect(renewalDue(next, new Date(next.start.getTime() - 1))).toBe(false);
          expect(renewalDue(next, next.start)).toBe(true);
        },
      ),
    );
  });
});

describe("overageLines: billed overage of the period that ended, in arrears", () => {
  const features: Record<string, FeatureDefinition> = {
    api_calls: {
      kind: "metered",
      name: "API calls",
      meter: "api_calls",
      unit: "call",
      overage: { policy: "billed", price: { model: "package", package_size: 1000, amount: 200 } },
    },
    exports: { kind: "metered", name: "Exports", meter: "exports", overage: { policy: "hard" } },
  };
  const meters: Record<string, MeterDefinition> = {
    api_calls: { event: "api.call", aggregation: "count", reset: "billing_period" },
    exports: { event: "export.created", aggregation: "count", reset: "billing_period" },
  };
  const period = { start: utc("2026-01-01T00:00:00Z"), end: utc("2026-02-01T00:00:00Z") };
  it("Starter grants 10,000 calls: 12,345 used bills 2,345 over as 3 packages of 1,000 at $2", () => {
    const lines = overageLines({
      shape: shape("starter", 5),
      features,
      meters,
      usage: { meters: { api_calls: 12_345, exports: 500 } },
      period,
    });
    expect(lines).toEqual([
      {
        item: "overage:api_calls",
        description: "API calls overage: 2345 calls over 10000",
        periodStart: period.start,
        periodEnd: period.end,
        quantity: 2345,
        unitAmount: null,
        amount: 600,
        proration: false,
        kind: "charge",
      },
    ]);
  });
  it("bills nothing within the grant, for hard or soft policies, or for a meter that is not per billing period", () => {
    const base = { shape: shape("starter", 5), features, period };
    expect(overageLines({ ...base, meters, usage: { meters: { api_calls: 10_000 } } })).toEqual([]);
    expect(
      overageLines({
        ...base,
        meters: { ...meters, api_calls: { ...meters.api_calls, reset: "calendar_month" } as MeterDefinition },
        usage: { meters: { api_calls: 99_999 } },
      }),
    ).toEqual([]);
  });
  it("property: overage lines are never negative and only exist above the grant", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e7, noNaN: true }), (used) => {
        const lines = overageLines({
          ...{ shape: shape("starter", 5), features, meters, period },
          usage: { meters: { api_calls: used } },
        });
        expect(lines.length).toBe(used > 10_000 ? 1 : 0);
        for (const l of lines) expect(l.amount).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe("dunning: the retry schedule", () => {
  const failed = utc("2026-02-01T00:00:00Z");
  it("by default retries on days 1, 3, 5, 7, 14 and 30 after the first failure, then gives up", () => {
    const schedule = parseRetrySchedule(undefined);
    if (!schedule.ok) throw new Error(schedule.message);
    const at = [1, 2, 3, 4, 5, 6, 7].map((n) => nextRetryAt(schedule.days, failed, n)?.toISOString() ?? null);
    expect(at).toEqual([
      "2026-02-02T00:00:00.000Z",
      "2026-02-04T00:00:00.000Z",
      "2026-02-06T00:00:00.000Z",
      "2026-02-08T00:00:00.000Z",
      "2026-02-15T00:00:00.000Z",
      "2026-03-03T00:00:00.000Z",
      null,
    ]);
  });
  it("parses a configured schedule and refuses a bad one with a reason", () => {
    expect(parseRetrySchedule("2, 4,8")).toEqual({ ok: true, days: [2, 4, 8] });
    expect(parseRetrySchedule("none")).toEqual({ ok: true, days: [] });
    expect(parseRetrySchedule("3,1")).toMatchObject({ ok: false });
    expect(parseRetrySchedule("1,x")).toMatchObject({ ok: false });
    expect(parseRetrySchedule("0")).toMatchObject({ ok: false });
  });
  it("property: retries come strictly later each time, after the first failure, and end after the last day", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 365 }), { maxLength: 20 }), (raw) => {
        const days = [...raw].sort((a, b) => a - b);
        const parsed = parseRetrySchedule(days.join(","));
        expect(parsed).toEqual({ ok: true, days: days.length ? days : [1, 3, 5, 7, 14, 30] });
        if (!parsed.ok) return;
        let previous = failed.getTime();
        for (let n = 1; n <= parsed.days.length; n++) {
          const next = nextRetryAt(parsed.days, failed, n);
          expect(next).not.toBeNull();
          expect((next as Date).getTime()).toBeGreaterThan(previous);
          previous = (next as Date).getTime();
        }
        expect(nextRetryAt(parsed.days, failed, parsed.days.length + 1)).toBeNull();
      }),
    );
  });
});

describe("void and write-off postings", () => {
  it("property: each balances, and a void exactly reverses the invoice's posting", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50_000, max: 50_000 }), { maxLength: 6 }),
        fc.nat(100_000),
        (amounts, credit) => {
          const totals = invoiceTotals(
            amounts.map((amount) => ({ amount })),
            credit,
          );
          const entries = voidPostings(totals);
          expect(entries.reduce((s, e) => s + e.amount, 0)).toBe(0);
          const written = writeOffPostings(totals.amountDue);
          expect(written.reduce((s, e) => s + e.amount, 0)).toBe(0);
        },
      ),
    );
  });

  it("property: an invoice written off and then paid ends as one paid on time (nothing in bad debt)", () => {
    const balances = (postings: { ledgerAccount: string; amount: number }[]) => {
      const out: Record<string, number> = {};
      for (const e of postings) out[e.ledgerAccount] = (out[e.ledgerAccount] ?? 0) + e.amount;
      return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== 0));
    };
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50_000, max: 50_000 }), { maxLength: 6 }),
        fc.nat(100_000),
        (amounts, credit) => {
          const totals = invoiceTotals(
            amounts.map((amount) => ({ amount })),
            credit,
          );
          const reversal = writeOffReversalPostings(totals.amountDue);
          expect(reversal.reduce((s, e) => s + e.amount, 0)).toBe(0);
          const onTime = [...invoicePostings(totals), ...paymentPostings(totals.amountDue)];
          const late = [
            ...invoicePostings(totals),
            ...writeOffPostings(totals.amountDue),
            ...reversal,
            ...paymentPostings(totals.amountDue),
          ];
          expect(balances(late)).toEqual(balances(onTime));
          expect(balances(late).bad_debt).toBeUndefined();
          expect(balances(late).receivable).toBeUndefined();
        },
      ),
    );
  });
});

describe("finalUsage: the periods of an ended subscription whose overage no renewal bills", () => {
  const jan1 = utc("2026-01-01T00:00:00Z");
  const month = (start: string, end: string): RenewalPeriod => ({ start: utc(start), end: utc(end) });
  it("canceled at period end (Mar 1) after February's renewal: February, whole", () => {
    expect(
      finalUsage({
        anchor: jan1,
        interval: "month",
        coveredAt: utc("2026-02-01T00:00:00Z"),
        endedAt: utc("2026-03-01T00:00:00Z"),
        renewable: true,
      }),
    ).toEqual({ due: true, periods: [month("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")] });
  });
  it("not due while a renewal of a period begun before the end is still to draft (it bills the period before)", () => {
    expect(
      finalUsage({
        anchor: jan1,
        interval: "month",
        coveredAt: jan1,
        endedAt: utc("2026-03-01T00:00:00Z"),
        renewable: true,
      }),
    ).toEqual({ due: false });
  });
  it("canceled at once mid-period: the period up to the cancellation", () => {
    expect(
      finalUsage({
        anchor: jan1,
        interval: "month",
        coveredAt: utc("2026-02-01T00:00:00Z"),
        endedAt: utc("2026-02-15T12:00:00Z"),
        renewable: false,
      }),
    ).toEqual({ due: true, periods: [month("2026-02-01T00:00:00Z", "2026-02-15T12:00:00Z")] });
  });
  it("canceled before February's renewal was drafted: January whole and February's first 30 seconds", () => {
    expect(
      finalUsage({
        anchor: jan1,
        interval: "month",
        coveredAt: jan1,
        endedAt: utc("2026-02-01T00:00:30Z"),
        renewable: false,
      }),
    ).toEqual({
      due: true,
      periods: [
        month("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        month("2026-02-01T00:00:00Z", "2026-02-01T00:00:30Z"),
      ],
    });
  });
  it("a mid-period upgrade's plan charge (Feb 10) still leaves February's overage to bill, from Feb 1", () => {
    expect(
      finalUsage({
        anchor: jan1,
        interval: "month",
        coveredAt: utc("2026-02-10T08:00:00Z"),
        endedAt: utc("2026-03-01T00:00:00Z"),
        renewable: true,
      }),
    ).toEqual({ due: true, periods: [month("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")] });
  });
  it("anchor on the 31st: the last period is Feb 28 → Mar 31", () => {
    expect(
      finalUsage({
        anchor: utc("2026-01-31T00:00:00Z"),
        interval: "month",
        coveredAt: utc("2026-02-28T00:00:00Z"),
        endedAt: utc("2026-03-31T00:00:00Z"),
        renewable: true,
      }),
    ).toEqual({ due: true, periods: [month("2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z")] });
  });
  it("ended in its trial (the anchor is the trial's end): nothing, a trial has no overage", () => {
    const trialEnd = utc("2026-01-15T00:00:00Z");
    for (const endedAt of [trialEnd, utc("2026-01-10T00:00:00Z")])
      expect(
        finalUsage({ anchor: trialEnd, interval: "month", coveredAt: jan1, endedAt, renewable: true }),
      ).toEqual({ due: true, periods: [] });
  });
  it("property: the renewals' overage periods and the final ones tile the life of the subscription once", () => {
    fc.assert(
      fc.property(
        fc.date({ min: utc("2020-01-01T00:00:00Z"), max: utc("2030-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.constantFrom<BillingInterval>("month", "year"),
        fc.integer({ min: 1, max: 1200 * 86_400 }),
        fc.integer({ min: 0, max: 60 }),
        (anchor, interval, livedSeconds, renewalsRun) => {
          const endedAt = new Date(anchor.getTime() + livedSeconds * 1000);
          // The renewal job drafts up to `renewalsRun` periods begun before the end (fewer when the
          // subscription was canceled at once before it caught up), each billing the period before.
          let coveredAt = anchor;
          const billed: RenewalPeriod[] = [];
          for (let run = 0; run < renewalsRun; run++) {
            const next = nextRenewalPeriod({ anchor, interval, coveredAt });
            if (next.start.getTime() >= endedAt.getTime()) break;
            billed.push({ start: periodAt(anchor, interval, coveredAt).start, end: next.start });
            coveredAt = next.start;
          }
          const caughtUp =
            nextRenewalPeriod({ anchor, interval, coveredAt }).start.getTime() >= endedAt.getTime();
          const renewable = finalUsage({ anchor, interval, coveredAt, endedAt, renewable: true });
          expect(renewable.due).toBe(caughtUp);
          const final = finalUsage({ anchor, interval, coveredAt, endedAt, renewable: false });
          if (!final.due) throw new Error("a canceled subscription's final usage is always due");
          const all = [...billed, ...final.periods];
          expect(all[0]?.start).toEqual(anchor);
          expect(all.at(-1)?.end).toEqual(endedAt);
          for (const [i, p] of all.entries()) {
            expect(p.end.getTime()).toBeGreaterThan(p.start.getTime());
            // each lies within one billing period, starting on its boundary
            const period = periodAt(anchor, interval, p.start);
            expect(period.start).toEqual(p.start);
            expect(p.end.getTime()).toBeLessThanOrEqual(period.end.getTime());
            if (i > 0) expect(p.start).toEqual(all[i - 1]?.end);
          }
        },
      ),
    );
  });
});
