import { catalogJsonSchema, playbookJsonSchema } from "@uptier/core";
import type { FastifyInstance } from "fastify";

/**
 * The published JSON Schemas of the files a vendor checks in, at the address their `$id` names the
 * end of: an editor (yaml-language-server) or a CI step can fetch them from the running server. Open:
 * they describe the file format, nothing of the deployment's data.
 */
export function schemaRoutes(app: FastifyInstance) {
  const schemas = {
    "catalog.schema.json": JSON.stringify(catalogJsonSchema()),
    "playbook.schema.json": JSON.stringify(playbookJsonSchema()),
  };
  for (const [name, text] of Object.entries(schemas))
    app.get(`/schemas/${name}`, { schema: { hide: true } }, async (_request, reply) =>
      reply.type("application/schema+json").send(text),
    );
}
