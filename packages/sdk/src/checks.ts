import type { CheckReason, CheckResult } from "@uptier/core";

/** A check answer: the server's shape, plus where it came from and how fresh it is. */
export interface Check extends Omit<CheckResult, "reason"> {
  readonly reason: CheckReason | "server_unreachable";
  /** cache: decided locally; server: asked the server (denied or near the limit); fallback: no data */
  readonly source: "cache" | "server" | "fallback";
  /** the answer may be out of date: the push channel is down or the last refresh failed */
  readonly stale: boolean;
  /** how old the entitlements it was decided on are, in ms (null for fallback) */
  readonly ageMs: number | null;
}

/** A cached answer: the server's shape (built by core), marked with where it came from and its age. */
export function fromCache(result: CheckResult, stale: boolean, ageMs: number): Check {
  // Assigned rather than spread: a spread here costs this hot path an order of magnitude.
  const check = result as CheckResult & { source: "cache"; stale: boolean; ageMs: number };
  check.source = "cache";
  check.stale = stale;
  check.ageMs = ageMs;
  return check as Check;
}

/** The answer with nothing cached and the server unreachable: the fail mode decides, visibly. */
export function fallbackCheck(account: string, feature: string, failMode: "open" | "closed"): Check {
  return {
    object: "check",
    account,
    feature,
    allowed: failMode === "open",
    kind: null,
    limit: null,
    used: null,
    remaining: null,
    ratio: null,
    resetsAt: null,
    reason: "server_unreachable",
    upgrade: null,
    recorded: false,
    source: "fallback",
    stale: true,
    ageMs: null,
  };
}
