/** Request schemas: the body, path and query of every route, with the bounds core holds to. */
export * from "./accounts.ts";
export * from "./billing.ts";
export * from "./catalog.ts";
export * from "./common.ts";
export * from "./metering.ts";
export * from "./metrics.ts";
export * from "./playbook.ts";
export * from "./prompts.ts";
export * from "./subscriptions.ts";
export * from "./test-clocks.ts";
export * from "./webhooks.ts";
