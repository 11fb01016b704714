import { z } from "zod";
import { CatalogDocument } from "./document.ts";

/** The published JSON Schema of the catalog file, generated from the one zod definition. */
export function catalogJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(CatalogDocument, { io: "input", target: "draft-2020-12" }),
    $id: "https://uptier.dev/schemas/catalog.schema.json",
    title: "Uptier catalog",
  };
}
