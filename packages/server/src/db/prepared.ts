import type { SQL } from "drizzle-orm";
import type { PgDialect, PgSession } from "drizzle-orm/pg-core";
import type { Executor } from "./client.ts";

/**
 * Runs a statement as a named prepared statement: PostgreSQL parses and plans it once per
 * connection and then reuses the plan, where an unnamed statement (what `db.execute` sends) is
 * planned on every run — for the hot statements of a checkout, a few index lookups each, planning
 * costs more than running them. The name is derived from the statement's text, so a text always
 * has the same name and a name one text. PGlite runs it as any other statement.
 *
 * The statement's result columns must not depend on a table's columns (`select *` at the top):
 * a migration would change them under the prepared plan. Return json (`to_json(row)`) instead.
 */
export async function executePrepared(db: Executor, statement: SQL): Promise<{ rows: unknown[] }> {
  // drizzle's own execute without a name, with one (its session and dialect are not public API)
  const { session, dialect } = db as unknown as { session: PgSession; dialect: PgDialect };
  const query = dialect.sqlToQuery(statement);
  const prepared = session.prepareQuery(query, undefined, nameOf(query.sql), false);
  return (await prepared.execute()) as { rows: unknown[] };
}

/**
 * An executor whose `execute` runs prepared (above), for code written against `db.execute` whose
 * statement text does not vary with its input (quotes/billing-state.ts's loadBillingState).
 */
export function preparing(db: Executor): Executor {
  return new Proxy(db, {
    get(target, property) {
      if (property === "execute") return (statement: SQL) => executePrepared(target, statement);
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const MAX_NAMES = 1_000;
const names = new Map<string, string>();

function nameOf(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    // FNV-1a, 52 bits: a collision would need two hot statements among a few dozen to meet
    let hash = 0xcbf29ce484222325n;
    for (let i = 0; i < text.length; i++)
      hash = BigInt.asUintN(52, (hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
    name = `uptier_${hash.toString(36)}_${text.length}`;
    // a statement whose text varies without bound must not be prepared; this only bounds the damage
    if (names.size >= MAX_NAMES) names.clear();
    names.set(text, name);
  }
  return name;
}
