export * from "./change-rules.ts";
export * from "./items.ts";
export * from "./quote-change.ts";
export * from "./summary.ts";
