/** Punctuation decided while walking, kept apart from the values still to write. */
class Text {
  constructor(readonly text: string) {}
}

/**
 * JSON with object keys sorted, so equal values hash equally whatever order they were written in.
 * It walks with a stack of its own, not by recursion: a batch's events are judged one by one after
 * the whole body is hashed, so one nested thousands of levels deep must not overflow the call stack.
 */
export function canonicalJson(value: unknown): string {
  let out = "";
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const next = todo.pop();
    if (next instanceof Text) out += next.text;
    else if (Array.isArray(next)) {
      out += "[";
      todo.push(new Text("]"));
      for (let i = next.length - 1; i >= 0; i--) {
        todo.push(next[i]);
        if (i > 0) todo.push(new Text(","));
      }
    } else if (next && typeof next === "object" && !(next instanceof Date)) {
      const record = next as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      out += "{";
      todo.push(new Text("}"));
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        todo.push(record[key], new Text(`${i > 0 ? "," : ""}${JSON.stringify(key)}:`));
      }
    } else out += JSON.stringify(next) ?? "null";
  }
  return out;
}
