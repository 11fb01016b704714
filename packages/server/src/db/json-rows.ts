import { type Column, getTableColumns, type Table } from "drizzle-orm";

/**
 * Rows that a raw statement returns as JSON (`to_json(row)`), read back into the type drizzle's own
 * select gives: database column names become property names and each column decodes its value
 * (instants become Dates, bigints numbers). Hot statements that fetch several tables' rows in one
 * round trip use it instead of drizzle's query builder, whose cost is per column and per statement.
 */
export function jsonRowReader<T extends Table>(table: T): (json: unknown) => T["$inferSelect"] {
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>).map(
    ([property, column]) => ({
      property,
      name: column.name,
      // JSON values arrive parsed already; a jsonb string must stay a string
      decode: column.dataType === "json" ? null : (value: unknown) => column.mapFromDriverValue(value),
    }),
  );
  return (json) => {
    const source = json as Record<string, unknown>;
    const row: Record<string, unknown> = {};
    for (const { property, name, decode } of columns) {
      const value = source[name];
      row[property] = value === null || value === undefined ? null : decode ? decode(value) : value;
    }
    return row as T["$inferSelect"];
  };
}

/** A json column as the driver hands it over: parsed (node-postgres, PGlite), or text to parse. */
export function parsedJson<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}
