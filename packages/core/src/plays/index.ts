export * from "./audience.ts";
export * from "./playbook.ts";
export * from "./runtime.ts";
export * from "./signals.ts";
export * from "./templates.ts";
export * from "./triggers.ts";
export * from "./variables.ts";
