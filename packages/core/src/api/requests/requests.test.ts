import { describe, expect, it } from "vitest";
import { MAX_ADD_ONS, MAX_QUANTITY } from "../../catalog/bounds.ts";
import { ChangeFields } from "./billing.ts";
import { CreateSubscriptionInput, UpdateSubscriptionInput } from "./subscriptions.ts";

const addOns = (n: number, quantity = 1) => Array.from({ length: n }, (_, i) => ({ key: `a${i}`, quantity }));

describe("request bounds are core's (catalog/bounds.ts)", () => {
  const create = (fields: object) =>
    CreateSubscriptionInput.safeParse({ account: "acct_1", plan: "pro", ...fields });

  it("takes seats and add-on quantities up to MAX_QUANTITY, and not one more", () => {
    for (const parse of [create, UpdateSubscriptionInput.safeParse, ChangeFields.safeParse]) {
      expect(parse({ seats: MAX_QUANTITY }).success).toBe(true);
      expect(parse({ seats: MAX_QUANTITY + 1 }).success).toBe(false);
      expect(parse({ add_ons: addOns(1, MAX_QUANTITY) }).success).toBe(true);
      expect(parse({ add_ons: addOns(1, MAX_QUANTITY + 1) }).success).toBe(false);
    }
  });

  it("takes up to MAX_ADD_ONS add-ons, and not one more", () => {
    for (const parse of [create, UpdateSubscriptionInput.safeParse, ChangeFields.safeParse]) {
      expect(parse({ add_ons: addOns(MAX_ADD_ONS) }).success).toBe(true);
      expect(parse({ add_ons: addOns(MAX_ADD_ONS + 1) }).success).toBe(false);
    }
  });
});
