export * from "./recurring.ts";
export * from "./seats.ts";
export * from "./shape-rules.ts";
export * from "./standing.ts";
export * from "./state.ts";
