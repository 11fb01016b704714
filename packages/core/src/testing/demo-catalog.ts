/**
 * Test support (imported by tests only; never by core's own code): the demo catalog of
 * packages/server/demo/catalog.yaml, read once. Core is type-checked without Node's types (the
 * domain does no I/O), so the file system is reached through an untyped import naming the one
 * function used.
 */
import { parse } from "yaml";
import { type ResolvedCatalog, validateCatalog } from "../catalog/validate.ts";

const { readFileSync } = (await import("node:fs" as string)) as {
  readFileSync(path: string, encoding: "utf8"): string;
};
const here = (import.meta as { dirname?: string }).dirname;

/** A file of the repository, by its path from packages/core/src/testing. */
export function readRepoFile(relative: string): string {
  return readFileSync(`${here}/${relative}`, "utf8");
}

export const DEMO_CATALOG_YAML = readRepoFile("../../../server/demo/catalog.yaml");

const demo = validateCatalog(parse(DEMO_CATALOG_YAML));
if (!demo.ok) throw new Error(`the demo catalog is invalid: ${JSON.stringify(demo.issues)}`);
export const DEMO_CATALOG: ResolvedCatalog = demo.catalog;
