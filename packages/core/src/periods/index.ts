export * from "./billing-period.ts";
