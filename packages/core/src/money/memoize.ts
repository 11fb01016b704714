/**
 * Remembers the answers of a pure function of one key, up to `limit` of them (then starts over).
 * For display strings: a quote formats the same few amounts and dates again and again, and Intl's
 * formatters cost microseconds a call. Remembering values is not state: answers never change.
 */
export function memoize<K, V>(compute: (key: K) => V, limit = 10_000): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      value = compute(key);
      if (known.size >= limit) known.clear();
      known.set(key, value);
    }
    return value;
  };
}
