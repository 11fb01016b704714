import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { memberName, mergeProperties, type PropertyValue } from "./member.ts";

describe("mergeProperties", () => {
  it("sets the patch's keys over the current ones and removes those set to null", () => {
    const current = { title: "CTO", seniority: 3, beta: true };
    expect(mergeProperties(current, { seniority: 4, beta: null, team: "core" })).toEqual({
      title: "CTO",
      seniority: 4,
      team: "core",
    });
    expect(current).toEqual({ title: "CTO", seniority: 3, beta: true });
    expect(mergeProperties(current, {})).toEqual(current);
  });

  it("holds exactly the patch's values for its keys and the current values for the others", () => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean());
    const key = fc.constantFrom("a", "b", "c", "d", "e");
    fc.assert(
      fc.property(
        fc.dictionary(key, scalar),
        fc.dictionary(key, fc.option(scalar, { nil: null })),
        (current: Record<string, PropertyValue>, patch: Record<string, PropertyValue | null>) => {
          const merged = mergeProperties(current, patch);
          for (const k of new Set([...Object.keys(current), ...Object.keys(patch)])) {
            const expected = Object.hasOwn(patch, k) ? patch[k] : current[k];
            if (expected === null) expect(Object.hasOwn(merged, k)).toBe(false);
            else expect(merged[k]).toBe(expected);
          }
          expect(Object.keys(merged).every((k) => Object.hasOwn(current, k) || Object.hasOwn(patch, k))).toBe(
            true,
          );
        },
      ),
    );
  });
});

describe("memberName", () => {
  it("is the member's name, and the email only when there is none", () => {
    expect(memberName({ name: "Ada Lovelace", email: "ada@acme.test" })).toBe("Ada Lovelace");
    expect(memberName({ name: null, email: "ada@acme.test" })).toBe("ada@acme.test");
  });
});
