export * from "./price-model.ts";
export * from "./proration.ts";
export * from "./rational.ts";
