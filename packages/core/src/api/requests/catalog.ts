import { z } from "zod";

/** Any object: the catalog's own validation judges it, with every issue and its path. */
export const CatalogBody = z
  .record(z.string(), z.unknown())
  .describe("A catalog document (see catalog.schema.json)");
