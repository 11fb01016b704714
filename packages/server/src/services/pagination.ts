import { DomainError } from "./errors.ts";

/**
 * Cursor pagination, newest first (the query is `ListQuery` in @uptier/core/api). The cursor is the
 * last id seen; ids are time-sortable.
 */
export interface Page<T> {
  readonly object: "list";
  readonly data: readonly T[];
  readonly has_more: boolean;
  readonly next_cursor: string | null;
}

export function decodeCursor(cursor: string | undefined, prefix: string): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!id.startsWith(`${prefix}_`))
    throw new DomainError("invalid_cursor", "The cursor is not one this list returned.", {
      param: "cursor",
    });
  return id;
}

/** Builds a page from rows fetched with limit + 1 (the extra row only says there is more). */
export function toPage<R extends { id: string }, T>(
  rows: readonly R[],
  limit: number,
  view: (row: R) => T,
): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = rows.slice(0, limit);
  const last = pageRows.at(-1);
  return {
    object: "list",
    data: pageRows.map(view),
    has_more: hasMore,
    next_cursor: hasMore && last ? Buffer.from(last.id, "utf8").toString("base64url") : null,
  };
}
