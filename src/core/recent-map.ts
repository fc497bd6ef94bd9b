/**
 * A Map that keeps the entry it last found at hand: on the hot path a flood asks for the same key again and again
 * (one process making most attempts), and a repeated `get` of that key is then a comparison, not a hash lookup.
 * Otherwise a Map (set, delete and clear keep the kept entry true). A wrapper, not a subclass: V8 runs a Map
 * subclass's overridden methods much slower (measured: the core's cost per attempt rose by half). Pure.
 */
export class RecentMap<K, V> {
  readonly #map = new Map<K, V>();
  #key?: K;
  #value?: V;

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    if (this.#value !== undefined && key === this.#key) return this.#value;
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#key = key;
      this.#value = value;
    }
    return value;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    if (key === this.#key) this.#value = value;
    this.#map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    if (key === this.#key) this.#value = undefined;
    return this.#map.delete(key);
  }

  clear(): void {
    this.#value = undefined;
    this.#map.clear();
  }

  keys(): MapIterator<K> {
    return this.#map.keys();
  }

  values(): MapIterator<V> {
    return this.#map.values();
  }

  entries(): MapIterator<[K, V]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map.entries();
  }
}
