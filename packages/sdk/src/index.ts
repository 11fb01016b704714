export type { CheckReason, CheckResult, EntitlementsView, UpgradeOption } from "@uptier/core";
export { type Check, type TrackEvent, Uptier, type UptierError, type UptierOptions } from "./client.ts";
export { UptierProvider } from "./openfeature.ts";
