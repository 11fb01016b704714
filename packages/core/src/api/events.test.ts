import { describe, expect, it } from "vitest";
import { DOMAIN_EVENT_TYPES, domainEvent, upcastDomainEvent } from "./events.ts";

describe("the domain-event catalog", () => {
  it("reads both stored shapes of subscription.canceled as one", () => {
    const voluntary = upcastDomainEvent("subscription.canceled", "acct_1", {
      subscription: "sub_1",
      ended_at: "2026-11-01T00:00:00.000Z",
    });
    expect(voluntary).toEqual({
      type: "subscription.canceled",
      account: "acct_1",
      data: {
        subscription: "sub_1",
        ended_at: "2026-11-01T00:00:00.000Z",
        reason: "voluntary",
        invoice: null,
      },
    });
    const delinquent = upcastDomainEvent("subscription.canceled", "acct_1", {
      subscription: "sub_1",
      ended_at: "2026-11-01T00:00:00.000Z",
      reason: "delinquent",
      invoice: "inv_1",
    });
    expect(delinquent?.data).toMatchObject({ reason: "delinquent", invoice: "inv_1" });
  });

  it("passes other known events through and ignores types it does not know", () => {
    const event = domainEvent("usage.gauge_set", "acct_1", { feature: "projects", value: 4 });
    expect(upcastDomainEvent(event.type, event.account, event.data)).toEqual(event);
    expect(upcastDomainEvent("test.burst", null, {})).toBeNull();
  });

  it("names every type once, as noun.verb", () => {
    expect(new Set(DOMAIN_EVENT_TYPES).size).toBe(DOMAIN_EVENT_TYPES.length);
    for (const type of DOMAIN_EVENT_TYPES) expect(type).toMatch(/^[a-z_]+\.[a-z_]+$/);
  });
});
