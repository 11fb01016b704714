import fastJson from "fast-json-stringify";
import { type ZodType, z } from "zod";

/**
 * For a hot route: its response serializer compiled by fast-json-stringify (Fastify's own) from the
 * JSON Schema of the route's zod schema, so zod stays the one definition. It does not re-validate
 * what our code built (zod's serializer does, at ~4× the cost); the tests check the shapes.
 */
export function compiledSerializer({ schema }: { schema: unknown }): (data: unknown) => string {
  return fastJson(z.toJSONSchema(schema as ZodType, { target: "draft-7", io: "output" }) as object);
}
