export type { CheckReason, CheckResult, EntitlementsView, UpgradeOption } from "@uptier/core";
export type { Check } from "./checks.ts";
export { type TrackEvent, Uptier } from "./client.ts";
export { UptierProvider } from "./openfeature.ts";
export type { UptierError, UptierOptions } from "./options.ts";
