import fastJson from "fast-json-stringify";
import { type ZodType, z } from "zod";

/**
 * For a hot route: its response serializer compiled by fast-json-stringify (Fastify's own) from the
 * JSON Schema of the route's zod schema, so zod stays the one definition. It does not re-validate
 * what our code built (zod's serializer does, at ~4× the cost); the tests check the shapes.
 */
export function compiledSerializer({ schema }: { schema: unknown }): (data: unknown) => string {
  const json = z.toJSONSchema(schema as ZodType, { target: "draft-7", io: "output" });
  return fastJson(nullableAsTypeList(json) as object);
}

type JsonSchema = { [key: string]: unknown };

const isSchema = (value: unknown): value is JsonSchema =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * zod writes `.nullable()` as `anyOf: [X, { type: "null" }]`. fast-json-stringify picks an anyOf
 * branch by running an Ajv validator on the value at every call (the whole object, for a nullable
 * object), while `type: [X's type, "null"]` is a typeof test. Same output, no validation per request.
 */
export function nullableAsTypeList(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableAsTypeList);
  if (!isSchema(schema)) return schema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = nullableAsTypeList(value);
  const branches = out.anyOf;
  if (!Array.isArray(branches) || branches.length !== 2) return out;
  const [value, nothing] = isNullType(branches[1]) ? branches : [branches[1], branches[0]];
  if (!isNullType(nothing) || !isSchema(value) || typeof value.type !== "string") return out;
  if ("anyOf" in value || "oneOf" in value || "allOf" in value || "$ref" in value) return out;
  const { anyOf: _, ...rest } = out;
  const merged: JsonSchema = { ...rest, ...value, type: [value.type, "null"] };
  // an enum constrains nothing when serializing, and a list without null would reject null in Ajv
  if (Array.isArray(merged.enum)) delete merged.enum;
  return merged;
}

function isNullType(schema: unknown): boolean {
  return isSchema(schema) && schema.type === "null" && Object.keys(schema).length === 1;
}
