export * from "./api.ts";
export * from "./check.ts";
export * from "./compute.ts";
export * from "./invite-path.ts";
export * from "./upgrade.ts";
