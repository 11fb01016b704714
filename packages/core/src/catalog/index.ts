export * from "./bounds.ts";
export * from "./document.ts";
export * from "./json-schema.ts";
export * from "./price-model.ts";
export * from "./validate.ts";
