import { domainEvent, upcastDomainEvent } from "@uptier/core/api";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { domainEvents } from "../../src/db/schema/index.ts";
import { eventColumnsSql } from "../../src/services/events/append.ts";
import type { DurableEvent } from "../../src/services/events/durable-cursor.ts";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

/**
 * Usage ingestion appends its usage.recorded event in the statement that counts the usage (raw
 * SQL, for speed); its type and payload keys come from the catalog through eventColumnsSql, and
 * what the SQL computes must read back as the catalog's payload.
 */
const api = useMeteringApi();

describe("the usage.recorded event of an ingested batch", () => {
  it("reads back, raw and through a durable subscriber, as the catalog's payload", async () => {
    const a = await api.accountOn("starter");
    const b = await api.accountOn("starter");
    const [end] = await api.database.db
      .select({ seq: sql<number>`coalesce(max(${domainEvents.seq}), 0)`.mapWith(Number) })
      .from(domainEvents);
    const log = new DomainEventLog(api.database.db, 3_600_000);
    const delivered: DurableEvent[] = [];
    log.subscribeDurable({
      name: "usage-recorded",
      from: "now",
      handle: async (events) => {
        delivered.push(...events.filter((e) => e.type === "usage.recorded"));
      },
    });
    try {
      await log.drainDurable();
      const one = usageEvent(b.account, "api.call");
      const batches = [
        // two accounts (one by its external id), one of them twice
        [
          usageEvent(a.account, "api.call"),
          usageEvent(b.external, "api.call"),
          usageEvent(a.account, "api.call"),
        ],
        [one],
        [one], // a duplicate only: nothing moved, no event
      ];
      for (const batch of batches) expect((await api.events(batch)).statusCode).toBe(200);
      await log.drainDurable();

      const expected = [
        domainEvent("usage.recorded", null, { accounts: [a.account, b.account].sort() }),
        domainEvent("usage.recorded", b.account, { accounts: [b.account] }),
      ];
      const rows = await api.database.db
        .select()
        .from(domainEvents)
        .where(eq(domainEvents.type, "usage.recorded"))
        .orderBy(domainEvents.seq);
      const written = rows.filter((r) => r.seq > (end?.seq ?? 0));
      expect(written.map((r) => upcastDomainEvent(r.type, r.accountId, r.data))).toEqual(expected);
      expect(delivered.map(({ type, account, data }) => ({ type, account, data }))).toEqual(expected);
    } finally {
      await log.close();
    }
  });

  it("takes its type, its payload keys and their types from the catalog (checked by the compiler)", () => {
    const accounts = sql<readonly string[]>`jsonb_agg(account_id)`;
    expect(eventColumnsSql("usage.recorded", { accounts })).toBeDefined();
    // @ts-expect-error: not an event of the catalog
    eventColumnsSql("usage.counted", { accounts });
    // @ts-expect-error: not a key of the payload
    eventColumnsSql("usage.recorded", { accounts, account_ids: accounts });
    // @ts-expect-error: the payload's required key is missing
    eventColumnsSql("usage.recorded", {});
    // @ts-expect-error: an expression of another type
    eventColumnsSql("usage.recorded", { accounts: sql<number>`count(*)` });
  });
});
