import { describe, expect, it } from "vitest";
import { IsoInstant } from "./instant.ts";

describe("IsoInstant", () => {
  it("takes the instants of the years 0001 to 9999 in UTC, with any offset", () => {
    for (const ok of [
      "0001-01-01T00:00:00Z",
      "0001-01-01T00:00:00-01:00",
      "2026-01-16T12:00:00.123456789+05:30",
      "9999-12-31T23:59:59.999Z",
      "9999-12-31T23:59:59+01:00",
    ])
      expect(IsoInstant.safeParse(ok).success, ok).toBe(true);
  });

  it("refuses year 0000, an offset that leaves the range, and what is no instant", () => {
    for (const bad of [
      "0000-01-01T00:00:00Z",
      "0001-01-01T00:00:00+01:00",
      "9999-12-31T23:59:59-01:00",
      "+275760-09-13T00:00:00Z",
      "2026-02-30T00:00:00Z",
      "2026-01-16T24:00:00Z",
      "2026-01-16T12:00:00",
    ])
      expect(IsoInstant.safeParse(bad).success, bad).toBe(false);
  });
});
