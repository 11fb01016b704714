/**
 * Writes the published JSON Schema of the catalog file, packages/core/catalog.schema.json, from the
 * one zod definition (catalogJsonSchema). Run it after changing the catalog document:
 *
 *   npx tsx scripts/write-catalog-schema.ts
 *
 * A core test fails when the committed file and catalogJsonSchema() differ, so the two cannot drift.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { catalogJsonSchema } from "@uptier/core";

const target = fileURLToPath(new URL("../packages/core/catalog.schema.json", import.meta.url));
writeFileSync(target, `${JSON.stringify(catalogJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
