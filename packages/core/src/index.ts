export * from "./accounts/segment.ts";
export * from "./catalog/index.ts";
export * from "./money/index.ts";
export * from "./periods/index.ts";
export * from "./pricing/index.ts";
export * from "./subscriptions/index.ts";
