export * from "./credit-notes.ts";
export * from "./dunning.ts";
export * from "./renewal.ts";
export * from "./totals.ts";
