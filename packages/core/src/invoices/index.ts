export * from "./totals.ts";
