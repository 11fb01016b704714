import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_QUOTE_TTL_SECONDS, isQuoteExpired, quoteExpiresAt } from "./expiry.ts";

describe("quote expiry", () => {
  const priced = new Date("2026-01-16T12:00:00Z");

  it("a quote lasts 15 minutes unless asked otherwise", () => {
    expect(DEFAULT_QUOTE_TTL_SECONDS).toBe(900);
    expect(quoteExpiresAt(priced).toISOString()).toBe("2026-01-16T12:15:00.000Z");
    expect(quoteExpiresAt(priced, 60).toISOString()).toBe("2026-01-16T12:01:00.000Z");
  });

  it("is open up to the last millisecond before its expiry, expired from the expiry instant on", () => {
    const expiresAt = quoteExpiresAt(priced);
    expect(isQuoteExpired(expiresAt, new Date(expiresAt.getTime() - 1))).toBe(false);
    expect(isQuoteExpired(expiresAt, expiresAt)).toBe(true);
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 86_400 }),
        fc.integer({ min: 0, max: 200_000_000 }),
        (ttl, after) => {
          const at = new Date(priced.getTime() + after);
          expect(isQuoteExpired(quoteExpiresAt(priced, ttl), at)).toBe(after >= ttl * 1000);
        },
      ),
    );
  });
});
