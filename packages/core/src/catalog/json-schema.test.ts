import { describe, expect, it } from "vitest";
import { readRepoFile } from "../testing/demo-catalog.ts";
import { catalogJsonSchema } from "./json-schema.ts";

const committed = readRepoFile("../../catalog.schema.json");

type Schema = {
  $schema?: string;
  $id?: string;
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  propertyNames?: { pattern?: string };
  default?: unknown;
};

describe("catalog.schema.json", () => {
  const schema = catalogJsonSchema() as Schema;

  it("is exactly what scripts/write-catalog-schema.ts writes from catalogJsonSchema()", () => {
    // Pretty JSON, 2 spaces, trailing newline: the script's output byte for byte.
    expect(committed, "catalog.schema.json is stale: run `npx tsx scripts/write-catalog-schema.ts`").toBe(
      `${JSON.stringify(catalogJsonSchema(), null, 2)}\n`,
    );
    expect(JSON.parse(committed)).toEqual(schema);
  });

  it("is a draft 2020-12 schema with a stable $id", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.$id).toBe("https://uptier.dev/schemas/catalog.schema.json");
    expect(schema.type).toBe("object");
  });

  it("requires currency, features and plans, and nothing that has a default", () => {
    expect([...(schema.required ?? [])].sort()).toEqual(["currency", "features", "plans"]);
    expect(Object.keys(schema.properties ?? {})).toEqual(
      expect.arrayContaining(["$schema", "currency", "features", "meters", "plans", "add_ons", "policies"]),
    );
  });

  it("rejects unknown fields, as the validator does", () => {
    expect(schema.additionalProperties).toBe(false);
    const plan = schema.properties?.plans?.additionalProperties as Schema;
    expect(plan.additionalProperties).toBe(false);
    expect([...(plan.required ?? [])].sort()).toEqual(["name", "prices", "seats", "tier"]);
  });

  it("constrains keys to lower snake_case", () => {
    for (const section of ["features", "meters", "plans", "add_ons"])
      expect(schema.properties?.[section]?.propertyNames?.pattern).toBe("^[a-z][a-z0-9_]*$");
  });

  it("is deterministic", () => {
    expect(JSON.stringify(catalogJsonSchema())).toBe(JSON.stringify(catalogJsonSchema()));
  });
});
