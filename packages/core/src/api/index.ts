/** The wire contract: request and response schemas and the domain-event catalog, shared by server and clients. */
export * from "./events.ts";
export { INVOICE_STATUSES } from "./fields.ts";
export * from "./metrics-responses.ts";
export * from "./playbook-responses.ts";
export * from "./prompt-responses.ts";
export * from "./requests/index.ts";
export * from "./responses.ts";
export * from "./webhook-responses.ts";
