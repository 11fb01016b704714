/** The wire contract: response schemas and the domain-event catalog, shared by server and clients. */
export * from "./events.ts";
export * from "./responses.ts";
