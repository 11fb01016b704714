export * from "./recurring.ts";
export * from "./shape-rules.ts";
export * from "./state.ts";
