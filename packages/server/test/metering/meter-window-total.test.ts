import { aggregateEvents, validateCatalog } from "@uptier/core";
import { and, eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { meterWindowTotal } from "../../src/db/queries/meter-window-total.ts";
import { usageCounters } from "../../src/db/schema/index.ts";
import { METERING_CATALOG, useMeteringApi } from "../support/metering-harness.ts";

const api = useMeteringApi();
const validation = validateCatalog(METERING_CATALOG);
if (!validation.ok) throw new Error("the metering catalog is invalid");
const { meters } = validation.catalog;

const START = "2026-01-16T12:00:00Z";
const DAY = 86_400_000;
/** the instant the events are sent: six days into the subscription's first period */
const SENT_AT = new Date(new Date(START).getTime() + 6 * DAY);

/** A usage event of one of the meters' event names, at some instant of the six days, value or not. */
const usage = fc.record({
  event: fc.constantFrom("api.call", "file.stored", "jobs.sampled", "user.active", "page.viewed"),
  offset: fc.integer({ min: 0, max: 6 * DAY }),
  value: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 1_000_000_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 99_999 }).map(String) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, "lots", -1) },
  ),
  user: fc.constantFrom("u1", "u2", "u3", "u4"),
});

let runs = 0;

describe("meterWindowTotal (db/queries) is core's aggregateEvents, on the database", () => {
  it("a window's total from the counters equals the reference over the events accepted, batch by batch", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(usage, { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 4 }),
        async (drawn, cuts) => {
          runs += 1;
          api.clock.set(START);
          const { account } = await api.accountOn("starter");
          api.clock.set(SENT_AT.toISOString());
          const events = drawn.map((d, i) => ({
            id: `ev_${runs}_${i}`,
            account,
            event: d.event,
            timestamp: new Date(new Date(START).getTime() + d.offset).toISOString(),
            properties: { bytes: d.value, running: d.value, user_id: d.user },
          }));
          // sent in batches, the last one again (all duplicates): counters are upserted across them
          let from = 0;
          for (const cut of [...cuts, events.length]) {
            const batch = events.slice(from, from + cut);
            if (batch.length > 0) expect((await api.events(batch)).statusCode).toBe(200);
            from += cut;
            if (from >= events.length) {
              expect((await api.events(batch)).json().accepted).toBe(0);
              break;
            }
          }
          const rows = await api.database.db
            .select({
              meter: usageCounters.meter,
              total: meterWindowTotal(usageCounters.aggregation, usageCounters.value),
            })
            .from(usageCounters)
            .where(and(eq(usageCounters.accountId, account), eq(usageCounters.periodStart, new Date(START))))
            .groupBy(usageCounters.meter);
          const totals = new Map(rows.map((r) => [r.meter, Number(r.total)]));
          for (const key of ["api_calls", "storage_bytes", "peak_jobs", "active_users"])
            expect([key, totals.get(key) ?? 0]).toEqual([
              key,
              aggregateEvents(key, meters[key] as never, events),
            ]);
        },
      ),
      { numRuns: 15 },
    );
    api.clock.set(START);
  });
});
