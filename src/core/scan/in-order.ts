/**
 * Hosts in the order the scan walks its targets (address order within each
 * block, blocks as given), from hosts that finish in any order: each host
 * waits until every address before it has finished (up or down), so output
 * streams like nmap's, in order. Only finished hosts that wait are held. Pure.
 */
import { compareAddresses } from "./diff.js";

export class InOrder<T extends { address: string }> {
  readonly #order: Iterator<string>;
  #next: IteratorResult<string>;
  readonly #waiting = new Map<string, T>();

  /** `order`: every address the scan will report, in its walk order. */
  constructor(order: Iterator<string>) {
    this.#order = order;
    this.#next = order.next();
  }

  /** A finished host; returns the hosts now due, in order (maybe none, maybe several). */
  push(host: T): T[] {
    this.#waiting.set(host.address, host);
    const due: T[] = [];
    while (!this.#next.done) {
      const h = this.#waiting.get(this.#next.value);
      if (h === undefined) break;
      this.#waiting.delete(this.#next.value);
      due.push(h);
      this.#next = this.#order.next();
    }
    return due;
  }

  /** What still waits (the scan stopped early, or an address never reported), in address order. */
  rest(): T[] {
    const out = [...this.#waiting.values()].sort((a, b) => compareAddresses(a.address, b.address));
    this.#waiting.clear();
    return out;
  }
}
