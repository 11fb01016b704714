import { z } from "zod";

const FIRST = Date.parse("0001-01-01T00:00:00Z");
const AFTER_LAST = Date.parse("+010000-01-01T00:00:00Z");

/**
 * An instant a request names: ISO 8601 with an offset, falling in the years 0001 to 9999 once
 * converted to UTC. That is what a four-digit year can write and what PostgreSQL stores: it has
 * no year 0000, and 0001-01-01T00:00:00+01:00 is in it.
 */
export const IsoInstant = z.iso.datetime({ offset: true }).refine((text) => {
  const at = Date.parse(text);
  return at >= FIRST && at < AFTER_LAST;
}, "must fall in the years 0001 to 9999 (UTC)");
