import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/lib/canonical-json.ts";

/** The recursive definition the walk implements, as the reference. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
  if (value && typeof value === "object" && !(value instanceof Date))
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${reference((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

describe("canonicalJson", () => {
  it("writes every JSON value as the recursive definition does, keys sorted", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
    const odd = { b: [undefined, new Date(0), { z: undefined, "10": 1, "9": 2 }], a: null };
    expect(canonicalJson(odd)).toBe(reference(odd));
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
  });

  it("takes a value nested far deeper than the call stack would", () => {
    const levels = 200_000;
    const deep = JSON.parse(`${'{"a":['.repeat(levels)}1${"]}".repeat(levels)}`);
    expect(canonicalJson(deep)).toBe(`${'{"a":['.repeat(levels)}1${"]}".repeat(levels)}`);
  });
});
