import { describe, expect, it } from "vitest";
import { accountSignals, subscription } from "../testing/signals.ts";
import { type AudienceMember, matchAudience, propertyHolds } from "./audience.ts";
import type { Audience } from "./document.ts";

const facts = accountSignals({
  account: {
    createdAt: new Date(0),
    properties: { country: "US", employees: 40, beta: true },
    segment: "smb",
  },
  subscription: subscription({ plan: "starter", interval: "month" }),
});
const admin: AudienceMember = { role: "admin", properties: { title: "CTO" } };
const member: AudienceMember = { role: "member", properties: { title: "Engineer" } };
const match = (audience: Audience, who: AudienceMember | null = admin, f = facts) =>
  matchAudience(audience, f, who);

describe("matchAudience", () => {
  it("admits everyone when it names no rule; admins buy, members ask their admin", () => {
    expect(match({})).toEqual({ matched: true, action: "buy" });
    expect(match({}, member)).toEqual({ matched: true, action: "ask_admin" });
    expect(match({}, null)).toEqual({ matched: true, action: "buy" });
  });

  it("plans: the subscription's plan is one of them; no subscription or an ended one is in none", () => {
    expect(match({ plans: ["starter", "pro"] }).matched).toBe(true);
    expect(match({ plans: ["free"] })).toEqual({
      matched: false,
      reason: 'the plan "starter" is not one of free',
    });
    expect(match({ plans: ["starter"] }, admin, { ...facts, subscription: null }).matched).toBe(false);
    const ended = { ...facts, subscription: subscription({ status: "canceled" }) };
    expect(match({ plans: ["starter"] }, admin, ended).matched).toBe(false);
  });

  it("intervals", () => {
    expect(match({ intervals: ["month"] }).matched).toBe(true);
    expect(match({ intervals: ["year"] })).toEqual({
      matched: false,
      reason: 'the interval "month" is not one of year',
    });
  });

  it("segments: the account's segment is one of them", () => {
    expect(match({ segments: ["smb", "mid_market"] }).matched).toBe(true);
    expect(match({ segments: ["enterprise"] })).toEqual({
      matched: false,
      reason: "the segment smb is not one of enterprise",
    });
    const enterprise = { ...facts, account: { ...facts.account, segment: "enterprise" as const } };
    expect(match({ segments: ["enterprise"] }, admin, enterprise).matched).toBe(true);
  });

  it("roles: a play for admins is not shown to members; one for members is not for account-level channels", () => {
    expect(match({ roles: ["admin"] }, member)).toEqual({
      matched: false,
      reason: 'the member\'s role "member" is not one of admin',
    });
    expect(match({ roles: ["admin"] }, admin)).toEqual({ matched: true, action: "buy" });
    expect(match({ roles: ["member"] }, member)).toEqual({ matched: true, action: "ask_admin" });
    expect(match({ roles: ["member"] }, null).matched).toBe(false);
  });

  it("account and member properties: every test must hold", () => {
    expect(match({ account: { country: "US", employees: { gte: 10, lte: 50 } } }).matched).toBe(true);
    expect(match({ account: { country: ["CA", "MX"] } })).toEqual({
      matched: false,
      reason: 'account property "country" ("US") does not match ["CA","MX"]',
    });
    expect(match({ member: { title: "CTO" } }).matched).toBe(true);
    expect(match({ member: { title: "CTO" } }, member).matched).toBe(false);
    // member properties are not tested for account-level channels
    expect(match({ member: { title: "CTO" } }, null).matched).toBe(true);
  });
});

describe("propertyHolds", () => {
  it.each([
    ["US", "US", true],
    ["US", "us", false],
    [40, "40", false],
    [true, true, true],
    [["a", 1], 1, true],
    [["a", 1], "1", false],
    [{ gte: 10 }, 10, true],
    [{ gte: 10 }, 9.99, false],
    [{ lte: 10 }, Number.NaN, false],
    [{ gte: 0 }, "5", false],
    ["x", undefined, false],
  ] as const)("%j holds for %j: %s", (test, value, expected) => {
    expect(propertyHolds(test as never, value)).toBe(expected);
  });

  it("never reads inherited properties of the account's record", () => {
    expect(matchAudience({ account: { toString: "x" } }, facts, admin).matched).toBe(false);
  });
});
