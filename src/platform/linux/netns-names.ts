/**
 * Names of network namespaces: `ip netns add NAME` bind-mounts the
 * namespace at /run/netns/NAME, so the inode of that file is the
 * namespace's (the number in /proc/PID/ns/net's `net:[N]`). The directory is
 * read once, and again when an inode is asked for that it did not hold (at
 * most once a second, so processes in unnamed namespaces cost nothing).
 *
 * Needs: read access to /run/netns (any user); Linux.
 */
import { readdirSync, statSync } from "node:fs";

export class NetnsNames {
  readonly #dir: string;
  readonly #now: () => number;
  #byInode = new Map<number, string>();
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(options: { dir?: string; now?: () => number } = {}) {
    this.#dir = options.dir ?? "/run/netns";
    this.#now = options.now ?? Date.now;
  }

  /** The name bound to this namespace inode, if any. */
  nameOf(inode: number): string | undefined {
    const known = this.#byInode.get(inode);
    if (known !== undefined) return known;
    if (this.#now() - this.#readAt < 1000) return undefined;
    this.#read();
    return this.#byInode.get(inode);
  }

  #read(): void {
    this.#readAt = this.#now();
    const map = new Map<number, string>();
    let names: string[] = [];
    try {
      names = readdirSync(this.#dir);
    } catch {
      // no named namespaces on this host
    }
    for (const name of names) {
      try {
        map.set(statSync(`${this.#dir}/${name}`).ino, name);
      } catch {
        // removed meanwhile
      }
    }
    this.#byInode = map;
  }
}
