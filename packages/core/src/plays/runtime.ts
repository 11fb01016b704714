/**
 * The plays runtime: prompt states and cadence, experiment assignment and statistics, the copy's
 * numbers (with the annual-switch saving), and the explanation of a decision.
 */
export * from "./annual-savings.ts";
export * from "./cadence.ts";
export * from "./experiment-stats.ts";
export * from "./experiments.ts";
export * from "./explain.ts";
export * from "./offer-variables.ts";
export * from "./play-steps.ts";
export * from "./prompt-state.ts";
