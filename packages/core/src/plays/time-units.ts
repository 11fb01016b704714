/** Lengths of time in milliseconds, for the runtime's own arithmetic (not exported by the barrel). */
export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
