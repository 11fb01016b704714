export * from "./gateway.ts";
export * from "./sandbox.ts";
export * from "./stripe.ts";
