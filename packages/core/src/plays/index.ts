export * from "./playbook.ts";
export * from "./templates.ts";
export * from "./variables.ts";
