import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addRational,
  equalsRational,
  RATIONAL_ZERO,
  type Rational,
  rational,
  subtractRational,
} from "../pricing/rational.ts";
import { day, revenueState, timelinesArb, WORKED_HISTORY } from "../testing/revenue-histories.ts";
import { type BucketSize, bucketsBetween } from "./buckets.ts";
import { customerSegmentBefore, groupInstant } from "./customer-attributes.ts";
import { sumSourceParts } from "./expansion-sources.ts";
import { type RevenueTimeline, revenueHistory } from "./history.ts";
import { customerMovement, type MovementTotals, movementsByBucket } from "./movements.ts";
import { committedAmount } from "./mrr.ts";

const at = (iso: string) => new Date(iso);

const r = (n: number) => rational(n);

function expectIdentity(totals: MovementTotals) {
  const gained = addRational(addRational(totals.new, totals.expansion), totals.reactivation);
  const lost = addRational(totals.contraction, totals.churn);
  expect(equalsRational(addRational(totals.opening, subtractRational(gained, lost)), totals.closing)).toBe(
    true,
  );
}

describe("movements over the worked history (docs/metrics.md)", () => {
  const history = revenueHistory(WORKED_HISTORY);
  const months = movementsByBucket(history, bucketsBetween(day("2026-01-01"), day("2026-06-01"), "month"));

  it("January: a trial moves nothing until it converts; four new customers, $626.00", () => {
    const jan = months[0] as (typeof months)[number];
    expect(jan.new).toEqual(r(62_600));
    expect(jan.counts.new).toBe(4);
    expect(jan.closing).toEqual(r(62_600));
    const trialDay = movementsByBucket(
      history,
      bucketsBetween(day("2026-01-05"), day("2026-01-06"), "day"),
    )[0];
    expect(trialDay?.movements).toEqual([]);
  });

  it("February: a same-day up-and-down and a payment gone past due move nothing", () => {
    expect(months[1]?.movements).toEqual([]);
    const feb10 = movementsByBucket(history, bucketsBetween(day("2026-02-10"), day("2026-02-11"), "day"))[0];
    expect(feb10?.movements).toEqual([]);
    // counted by the hour, the up and the down are both there
    const hours = movementsByBucket(history, [
      { start: at("2026-02-10T00:00:00Z"), end: at("2026-02-10T12:00:00Z") },
      { start: at("2026-02-10T12:00:00Z"), end: at("2026-02-11T00:00:00Z") },
    ]);
    expect(hours.map((h) => [h.expansion, h.contraction])).toEqual([
      [r(3000), r(0)],
      [r(0), r(3000)],
    ]);
  });

  it("March: the scheduled downgrade contracts at the period end, cancellations churn when they take effect", () => {
    const mar = months[2] as (typeof months)[number];
    expect(mar.contraction).toEqual(r(20_000));
    expect(mar.contractionBySource.plan).toEqual(r(20_000));
    expect(mar.churn).toEqual(r(22_800));
    expect(mar.movements.map((m) => [m.customer, m.kind, m.churnReason])).toEqual([
      ["acme", "churn", "voluntary"],
      ["bolt", "contraction", null],
      ["cask", "churn", "delinquent"],
    ]);
    expect(mar.closing).toEqual(r(19_800));
    const requested = movementsByBucket(
      history,
      bucketsBetween(day("2026-03-03"), day("2026-03-04"), "day"),
    )[0];
    expect(requested?.movements).toEqual([]);
  });

  it("April: +4 seats then −2 seats in one month is a $30.00 seats expansion, two movements by the week", () => {
    const apr = months[3] as (typeof months)[number];
    expect(apr.movements.map((m) => [m.customer, m.kind, m.amount])).toEqual([
      ["dune", "expansion", r(3000)],
    ]);
    expect(apr.expansionBySource.seats).toEqual(r(3000));
    const weeks = movementsByBucket(history, bucketsBetween(day("2026-03-30"), day("2026-04-27"), "week"));
    expect(weeks.map((w) => [w.start.toISOString().slice(0, 10), w.expansion, w.contraction])).toEqual([
      ["2026-03-30", r(6000), r(0)],
      ["2026-04-06", r(0), r(0)],
      ["2026-04-13", r(0), r(0)],
      ["2026-04-20", r(0), r(3000)],
    ]);
  });

  it("May: a customer returning after churn on another subscription is a reactivation", () => {
    const may = months[4] as (typeof months)[number];
    expect(may.movements.map((m) => [m.customer, m.kind, m.amount])).toEqual([
      ["acme", "reactivation", r(2900)],
    ]);
    expect(may.closing).toEqual(r(25_700));
  });

  it("every month satisfies opening + new + expansion + reactivation − contraction − churn = closing", () => {
    for (const month of months) expectIdentity(month);
    expect(months.map((m) => m.closing)).toEqual([r(62_600), r(62_600), r(19_800), r(22_800), r(25_700)]);
  });
});

describe("churn reasons", () => {
  it("a move to a free plan is churn with reason free_plan; an ending keeps its own reason", () => {
    const history = revenueHistory([
      {
        customer: "free",
        subscription: "s1",
        changes: [
          { at: day("2026-01-01"), state: revenueState() },
          { at: day("2026-02-01"), state: revenueState({ plan: "free", base: 0 }) },
        ],
      },
      {
        customer: "late",
        subscription: "s2",
        changes: [
          { at: day("2026-01-01"), state: revenueState() },
          { at: day("2026-02-03"), state: revenueState({ status: "canceled", endedBecause: "delinquent" }) },
        ],
      },
    ]);
    const [february] = movementsByBucket(
      history,
      bucketsBetween(day("2026-02-01"), day("2026-03-01"), "month"),
    );
    expect(february?.movements.map((m) => [m.customer, m.kind, m.amount, m.churnReason])).toEqual([
      ["free", "churn", r(9900), "free_plan"],
      ["late", "churn", r(9900), "delinquent"],
    ]);
    expect(february?.movements[0]?.sources.plan).toEqual(r(-9900));
  });
});

/** The customer's MRR in force just before `t`, recomputed by scanning the raw changes. */
function bruteForceMrr(timelines: readonly RevenueTimeline[], customer: string, t: Date): Rational {
  let total = RATIONAL_ZERO;
  for (const timeline of timelines) {
    if (timeline.customer !== customer) continue;
    let state = null;
    for (const change of timeline.changes) if (change.at.getTime() < t.getTime()) state = change.state;
    if (!state || (state.status !== "active" && state.status !== "past_due")) continue;
    const months = state.interval === "year" ? 12 : 1;
    total = addRational(total, rational(committedAmount(state) + state.usage, months));
  }
  return total;
}

const sizes = fc.constantFrom<BucketSize>("day", "week", "month");
const RANGE = { from: day("2025-12-20"), to: day("2026-04-10") };

describe("movement properties", () => {
  it("each bucket's movements add up to its MRR change, overall and in every segment", () => {
    fc.assert(
      fc.property(timelinesArb, sizes, (timelines, size) => {
        const history = revenueHistory(timelines);
        const buckets = bucketsBetween(RANGE.from, RANGE.to, size);
        const all = movementsByBucket(history, buckets);
        for (const [i, bucket] of all.entries()) {
          expectIdentity(bucket);
          if (i > 0) expect(bucket.opening).toEqual(all[i - 1]?.closing);
          for (const m of bucket.movements)
            expect(sumSourceParts(m.sources)).toEqual(subtractRational(m.closing, m.opening));
        }
        for (const segment of ["smb", "mid_market", "enterprise"]) {
          const bySegment = movementsByBucket(
            history,
            buckets,
            (customer, bucket) =>
              customerSegmentBefore(customer, groupInstant(customer, bucket), "usd") === segment,
          );
          for (const bucket of bySegment) expectIdentity(bucket);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("opening and closing MRR agree with a brute-force scan of the raw changes", () => {
    fc.assert(
      fc.property(timelinesArb, (timelines) => {
        const history = revenueHistory(timelines);
        for (const bucket of bucketsBetween(RANGE.from, RANGE.to, "week"))
          for (const customer of history.customers) {
            const movement = customerMovement(customer, bucket);
            expect(movement.opening).toEqual(bruteForceMrr(timelines, customer.customer, bucket.start));
            expect(movement.closing).toEqual(bruteForceMrr(timelines, customer.customer, bucket.end));
          }
      }),
      { numRuns: 40 },
    );
  });

  it("netting is order-independent: reordering the changes inside a bucket, the last kept last, moves the same", () => {
    fc.assert(
      fc.property(timelinesArb, fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), (timelines, keys) => {
        const bucket = { start: day("2026-01-01"), end: day("2026-02-01") };
        const inside = (t: Date) => t >= bucket.start && t < bucket.end;
        const shuffled = timelines.map((timeline) => {
          const positions = timeline.changes.flatMap((c, i) => (inside(c.at) ? [i] : []));
          const movable = positions.slice(0, -1);
          const states = movable
            .map((p, i) => ({ state: timeline.changes[p]?.state, key: keys[i] ?? 0 }))
            .sort((a, b) => a.key - b.key);
          const changes = timeline.changes.map((c, i) => {
            const slot = movable.indexOf(i);
            return slot < 0 ? c : { at: c.at, state: states[slot]?.state ?? c.state };
          });
          return { ...timeline, changes };
        });
        const before = revenueHistory(timelines).customers.map((c) => customerMovement(c, bucket));
        const after = revenueHistory(shuffled).customers.map((c) => customerMovement(c, bucket));
        expect(after.map((m) => [m.customer, m.kind, m.amount, m.sources])).toEqual(
          before.map((m) => [m.customer, m.kind, m.amount, m.sources]),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("new only for a customer's first revenue, reactivation only after it", () => {
    fc.assert(
      fc.property(timelinesArb, (timelines) => {
        const history = revenueHistory(timelines);
        for (const bucket of movementsByBucket(history, bucketsBetween(RANGE.from, RANGE.to, "day")))
          for (const m of bucket.movements) {
            const first = history.customers.find((c) => c.customer === m.customer)?.firstRevenueAt;
            if (m.kind === "new") expect(first && first >= bucket.start && first < bucket.end).toBe(true);
            if (m.kind === "reactivation") expect(first && first < bucket.start).toBe(true);
          }
      }),
      { numRuns: 40 },
    );
  });
});
