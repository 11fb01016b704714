export * from "./change-rules.ts";
export * from "./expiry.ts";
export * from "./items.ts";
export * from "./period-charges.ts";
export * from "./quote-change.ts";
export * from "./quote-plan.ts";
export * from "./summary.ts";
