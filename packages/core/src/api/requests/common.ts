import { z } from "zod";

/** Ids are prefixed ULIDs; anything else cannot name a resource, so it is rejected before any query. */
export const ResourceId = z.string().regex(/^[a-z]{2,8}_[0-9A-Za-z]{1,40}$/, "is not a valid id");
export const IdParams = z.object({ id: ResourceId }).strict();

/** Routes without query parameters reject any, so a typo is not silently ignored. */
export const NoQuery = z.object({}).strict();

/** The body of an action that takes no fields: `{}`, or none at all. */
export const EmptyBody = z.object({}).strict().default({});

/** Cursor pagination, newest first. The cursor is the last id seen; ids are time-sortable. */
export const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(100).optional(),
  })
  .strict();
export type ListQuery = z.infer<typeof ListQuery>;

/** A plan or add-on as a request names it; whether the catalog has it is the service's question. */
export const CatalogKey = z.string().min(1).max(64);
export const AccountId = z.string().min(1).max(64).describe("Account id (acct_…)");
