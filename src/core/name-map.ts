/**
 * NameMap: which name each address was recently resolved from, as the DNS
 * answers this host received said (never a reverse lookup). Bounded: at most
 * `maxEntries` addresses, the least recently answered going first; an entry
 * lives for its TTL, but at least `minKeepMs` (programs keep answers longer
 * than DNS says: browsers a minute, connection pools longer) and at most
 * `maxKeepMs`. Pure: every time is given.
 */
export interface NameMapOptions {
  /** Default 65,536. */
  maxEntries?: number;
  /** Default 300,000 ms. */
  minKeepMs?: number;
  /** Default 86,400,000 ms. */
  maxKeepMs?: number;
}

interface Entry {
  name: string;
  until: number;
}

export class NameMap {
  readonly maxEntries: number;
  readonly minKeepMs: number;
  readonly maxKeepMs: number;
  /** Insertion order is answer order: the first entry is the least recently answered. */
  readonly #entries = new Map<string, Entry>();
  /** Keys answered since the last takeChanged(), for a copy kept elsewhere (the store, for `ls`). */
  readonly #changed = new Set<string>();
  /** Answers seen, and entries let go for room. */
  answers = 0;
  evicted = 0;

  constructor(options: NameMapOptions = {}) {
    this.maxEntries = options.maxEntries ?? 65_536;
    this.minKeepMs = options.minKeepMs ?? 300_000;
    this.maxKeepMs = options.maxKeepMs ?? 86_400_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A DNS answer: `address` is `name` for `ttlS` seconds from `now`. */
  add(address: string, name: string, ttlS: number, now: number): void {
    this.answers++;
    const keep = Math.min(this.maxKeepMs, Math.max(this.minKeepMs, ttlS * 1000));
    this.#entries.delete(address);
    this.#entries.set(address, { name, until: now + keep });
    if (this.#changed.size < this.maxEntries || this.#changed.has(address)) this.#changed.add(address);
    while (this.#entries.size > this.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
      this.evicted++;
    }
  }

  /**
   * The entries answered since the last call that still hold at `now`, each
   * with how much longer it holds: a copy elsewhere (the store) lives as long.
   */
  takeChanged(now: number): { key: string; name: string; keepMs: number }[] {
    const out: { key: string; name: string; keepMs: number }[] = [];
    for (const key of this.#changed) {
      const e = this.#entries.get(key);
      if (e && e.until >= now) out.push({ key, name: e.name, keepMs: e.until - now });
    }
    this.#changed.clear();
    return out;
  }

  /** The name `address` was resolved from, if an answer still holds at `now`. */
  lookup(address: string, now: number): string | undefined {
    const e = this.#entries.get(address);
    if (!e) return undefined;
    if (e.until < now) {
      this.#entries.delete(address);
      return undefined;
    }
    return e.name;
  }
}

/** An address as the processes of one network namespace see it (answers arrive per namespace; no namespace: one shared key). */
export function nameKey(netns: number | undefined, address: string): string {
  return netns === undefined ? address : `${netns}|${address}`;
}
