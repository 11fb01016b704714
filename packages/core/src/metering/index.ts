export * from "./events.ts";
export * from "./meters.ts";
