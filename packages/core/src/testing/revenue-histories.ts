/**
 * Test support: revenue states and random subscription histories for the metrics' tests — a few
 * customers, each with one or two subscriptions changing plan, seats, add-ons, interval, usage and
 * status at instants bunched on a few days (so buckets hold several changes, some in one second).
 */
import fc from "fast-check";
import type { RevenueTimeline } from "../metrics/history.ts";
import type { RevenueState } from "../metrics/revenue-state.ts";

/** A $99/month plan with 3 seats included, $15 a seat beyond, no add-ons: the seeds' example catalog. */
export function revenueState(overrides: Partial<RevenueState> = {}): RevenueState {
  return {
    status: "active",
    interval: "month",
    currency: "usd",
    plan: "team",
    planVersion: 1,
    base: 9900,
    seats: { total: 3, included: 3, amount: 0 },
    addOns: [],
    usage: 0,
    ...overrides,
  };
}

/** Seats beyond the included ones at a unit price, as a per-unit seat price bills them. */
export function seatsAt(total: number, included: number, unitAmount: number): RevenueState["seats"] {
  return { total, included, amount: Math.max(0, total - included) * unitAmount };
}

export const day = (iso: string): Date => new Date(`${iso}T00:00:00Z`);

const team = (seats: number) => revenueState({ seats: seatsAt(seats, 3, 1500) });

/**
 * The worked history of docs/metrics.md ("Worked example"): four customers on the $99 Team plan
 * (3 seats included, $15 a seat beyond), January to May 2026.
 */
export const WORKED_HISTORY: RevenueTimeline[] = [
  {
    customer: "acme",
    subscription: "sub_acme_1",
    changes: [
      { at: day("2026-01-05"), state: { ...team(5), status: "trialing" } },
      { at: day("2026-01-19"), state: team(5) },
      { at: new Date("2026-02-10T09:00:00Z"), state: team(7) },
      { at: new Date("2026-02-10T13:00:00Z"), state: team(5) },
      // cancellation requested on Mar 3 for the period end: it takes effect, and moves MRR, on Mar 19
      { at: day("2026-03-19"), state: { ...team(5), status: "canceled", endedBecause: "voluntary" } },
    ],
  },
  {
    customer: "acme",
    subscription: "sub_acme_2",
    changes: [
      {
        at: day("2026-05-02"),
        state: revenueState({ plan: "starter", base: 2900, seats: seatsAt(1, 1, 900) }),
      },
    ],
  },
  {
    customer: "bolt",
    subscription: "sub_bolt",
    changes: [
      {
        at: day("2026-01-01"),
        state: revenueState({ plan: "business", base: 29_900, seats: seatsAt(10, 10, 1200) }),
      },
      // downgrade to Team requested on Feb 15, scheduled to the period end
      { at: day("2026-03-01"), state: team(3) },
    ],
  },
  {
    customer: "cask",
    subscription: "sub_cask",
    changes: [
      { at: day("2026-01-01"), state: team(3) },
      { at: day("2026-02-05"), state: { ...team(3), status: "past_due" } },
      { at: day("2026-03-07"), state: { ...team(3), status: "canceled", endedBecause: "delinquent" } },
    ],
  },
  {
    customer: "dune",
    subscription: "sub_dune",
    changes: [
      { at: day("2026-01-01"), state: team(3) },
      { at: day("2026-04-03"), state: team(7) },
      { at: day("2026-04-20"), state: team(5) },
    ],
  },
];

const PLANS = [
  { plan: "starter", base: 2900, included: 1, seat: 900 },
  { plan: "team", base: 9900, included: 3, seat: 1500 },
  { plan: "business", base: 29900, included: 10, seat: 1200 },
  { plan: "free", base: 0, included: 1, seat: 0 },
] as const;

export const revenueStateArb: fc.Arbitrary<RevenueState> = fc
  .record({
    status: fc.constantFrom("trialing", "active", "active", "active", "past_due", "canceled"),
    interval: fc.constantFrom("month", "month", "year"),
    plan: fc.constantFrom(...PLANS),
    planVersion: fc.integer({ min: 1, max: 2 }),
    seats: fc.integer({ min: 1, max: 30 }),
    support: fc.option(fc.integer({ min: 100, max: 5000 }), { nil: undefined }),
    packs: fc.integer({ min: 0, max: 3 }),
    usage: fc.constantFrom(0, 0, 1234, 5001, 20_000),
    endedBecause: fc.constantFrom("voluntary", "delinquent"),
  })
  .map((x) => {
    const yearly = x.interval === "year" ? 10 : 1;
    const addOns = [
      ...(x.support === undefined ? [] : [{ key: "support", quantity: 1, amount: x.support * yearly }]),
      ...(x.packs > 0 ? [{ key: "packs", quantity: x.packs, amount: x.packs * 2500 * yearly }] : []),
    ];
    return revenueState({
      status: x.status,
      interval: x.interval,
      plan: x.plan.plan,
      planVersion: x.planVersion,
      base: x.plan.base * yearly,
      seats: seatsAt(x.seats, x.plan.included, x.plan.seat * yearly),
      addOns,
      usage: x.usage * yearly,
      ...(x.status === "canceled" ? { endedBecause: x.endedBecause } : {}),
    });
  });

/** Instants from 2026-01-01 over 90 days, bunched on 20 days and a few hours, some on the same second. */
export const instantArb: fc.Arbitrary<Date> = fc
  .record({
    day: fc.integer({ min: 0, max: 19 }),
    hour: fc.constantFrom(0, 0, 9, 13, 23),
    minute: fc.integer({ min: 0, max: 1 }),
  })
  .map(({ day: d, hour, minute }) => new Date(Date.UTC(2026, 0, 1 + d * 4 + (d % 3), hour, minute)));

export const timelinesArb: fc.Arbitrary<RevenueTimeline[]> = fc
  .array(
    fc.record({
      customer: fc.integer({ min: 1, max: 6 }),
      changes: fc.array(fc.record({ at: instantArb, state: revenueStateArb }), {
        minLength: 1,
        maxLength: 8,
      }),
    }),
    { minLength: 1, maxLength: 9 },
  )
  .map((subscriptions) =>
    subscriptions.map((s, i) => ({
      customer: `cus_${s.customer}`,
      subscription: `sub_${i}`,
      // A stable sort: changes at one instant keep their drawn order, the last one in force.
      changes: [...s.changes].sort((a, b) => a.at.getTime() - b.at.getTime()),
    })),
  );
