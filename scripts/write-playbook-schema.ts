/**
 * Writes the published JSON Schema of the playbook file, packages/core/playbook.schema.json, from
 * the one zod definition (playbookJsonSchema). Run it after changing the playbook document:
 *
 *   npx tsx scripts/write-playbook-schema.ts
 *
 * A core test fails when the committed file and playbookJsonSchema() differ, so the two cannot drift.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { playbookJsonSchema } from "@uptier/core";

const target = fileURLToPath(new URL("../packages/core/playbook.schema.json", import.meta.url));
writeFileSync(target, `${JSON.stringify(playbookJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
