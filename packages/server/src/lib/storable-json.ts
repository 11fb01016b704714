/**
 * What PostgreSQL cannot store, found in a request before any of it is used: a NUL character
 * (text and jsonb refuse it), a lone UTF-16 surrogate (not Unicode: jsonb refuses it, text would
 * silently store U+FFFD instead), JSON nested deeper than MAX_JSON_DEPTH (nested thousands of
 * levels, it overflows the stack of jsonb, JSON.stringify and every recursive walk), and a number
 * JSON.parse read as Infinity (1e400), which would be stored as null.
 */

/** How deeply a request body, and each event or Segment message of a batch, may nest objects and arrays. */
export const MAX_JSON_DEPTH = 32;

export type JsonFlawCode = "unsupported_character" | "nesting_too_deep" | "number_out_of_range";

export interface JsonFlaw {
  readonly code: JsonFlawCode;
  /** where, as a dotted path from the value walked (keys escaped when they are the flaw) */
  readonly param: string;
  readonly message: string;
}

export function isStorableString(text: string): boolean {
  return text.isWellFormed() && !text.includes("\u0000");
}

function characterFlaw(text: string, what: "string" | "key"): string {
  const the = what === "key" ? "the key" : "the string";
  return text.includes("\u0000")
    ? `${the} holds a NUL character (\\u0000), which cannot be stored`
    : `${the} holds a lone UTF-16 surrogate (half of a pair, \\ud800 to \\udfff), which is not Unicode and cannot be stored`;
}

/** A key as a param names it: escaped as JSON does when it is the key at fault. */
const escaped = (key: string) => JSON.stringify(key).slice(1, -1);

/** A flaw found, with its path gathered innermost first as the walk returns. */
interface Found {
  readonly code: JsonFlawCode;
  readonly message: string;
  readonly path: string[];
}

function walk(node: unknown, depth: number, skipItemsOf: string | undefined): Found | null {
  if (typeof node === "string")
    return isStorableString(node)
      ? null
      : { code: "unsupported_character", message: characterFlaw(node, "string"), path: [] };
  if (typeof node === "number")
    return Number.isFinite(node)
      ? null
      : {
          code: "number_out_of_range",
          message: "the number is too large to represent (it reads as infinity)",
          path: [],
        };
  if (node === null || typeof node !== "object") return null;
  if (depth >= MAX_JSON_DEPTH)
    return {
      code: "nesting_too_deep",
      message: `objects and arrays nest deeper than ${MAX_JSON_DEPTH} levels`,
      path: [],
    };
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const found = walk(node[i], depth + 1, undefined);
      if (found) {
        found.path.push(String(i));
        return found;
      }
    }
    return null;
  }
  const record = node as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!isStorableString(key))
      return { code: "unsupported_character", message: characterFlaw(key, "key"), path: [escaped(key)] };
    const child = record[key];
    if (depth === 0 && key === skipItemsOf && Array.isArray(child)) continue;
    const found = walk(child, depth + 1, undefined);
    if (found) {
      found.path.push(key);
      return found;
    }
  }
  return null;
}

/**
 * The first flaw in a parsed JSON value (or query or path parameters), or null. `prefix` starts
 * every param (`querystring`, `params`); `itemsJudgedOneByOne` names a top-level field whose
 * array items the route judges itself, one by one, so that one bad item of a batch rejects only
 * that item. The walk stops at the depth limit, so it cannot itself run out of stack.
 */
export function findJsonFlaw(
  value: unknown,
  options: { readonly prefix?: string; readonly itemsJudgedOneByOne?: string | undefined } = {},
): JsonFlaw | null {
  const found = walk(value, 0, options.itemsJudgedOneByOne);
  if (!found) return null;
  const path = found.path.reverse();
  if (options.prefix) path.unshift(options.prefix);
  return { code: found.code, param: path.join(".") || "(body)", message: found.message };
}
