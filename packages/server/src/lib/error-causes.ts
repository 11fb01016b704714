/**
 * Whether an error, or any error in its cause chain, passes `test`. A driver's error arrives wrapped
 * (drizzle's DrizzleQueryError holds node-postgres's as its cause), so a SQLSTATE or an error class
 * is looked for down the chain; the depth bound stops a chain that loops.
 */
export function anyCause(error: unknown, test: (error: unknown) => boolean): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++)
    if (test(e)) return true;
  return false;
}

/** The SQLSTATE PostgreSQL (node-postgres, PGlite) put on an error, if any. */
export function sqlState(error: unknown): string | undefined {
  const { code } = error as { code?: unknown };
  return typeof code === "string" ? code : undefined;
}
