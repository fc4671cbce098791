/**
 * Per-family slots (controller factories, train-step factories): a value registered for a
 * `modelType` replaces the previous one until it is unregistered, which restores it.
 * @module
 */

/**
 * Sets `map[key] = value` and returns the function that undoes it: the previous value comes back
 * (or the key goes), unless something else was registered for `key` meanwhile.
 */
export function setRestorable<V>(map: Map<string, V>, key: string, value: V): () => void {
  const previous = map.get(key);
  map.set(key, value);
  return () => {
    if (map.get(key) !== value) return;
    if (previous !== undefined) map.set(key, previous);
    else map.delete(key);
  };
}
