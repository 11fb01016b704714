// The one schema, split by domain. Each file holds one domain's tables; this index is what Drizzle
// and drizzle-kit read.

export * from "./billing.ts";
export * from "./channels.ts";
export * from "./credit-notes.ts";
export * from "./foundation.ts";
export * from "./metering.ts";
export * from "./plays.ts";
export * from "./prompts.ts";
export * from "./sandbox.ts";
export * from "./test-clocks.ts";
