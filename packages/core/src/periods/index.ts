export * from "./billing-period.ts";
export * from "./instant.ts";
