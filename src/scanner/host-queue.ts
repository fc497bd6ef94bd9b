/**
 * The queue between the scan's two stages: discovery puts live hosts in, the
 * port-checking workers take them out.
 *
 *   discovery ──put()──► [ h h h h ... ] ──take()──► workers (hostWindow of them)
 *                 │  waits (room()) while more than `room` hosts wait
 *                 └─ end(): no more hosts; take() then drains and returns undefined
 *
 * Invariants: hosts come out in the order they went in, each once; a
 * `take()` that finds the queue empty waits for the next `put()` or for
 * `end()`/`abort()`; `room()` resolves once the waiting hosts fall below the
 * bound (so discovery never runs more than `room` hosts ahead of the
 * workers); `abort()` wakes every waiter: takes return undefined, room()
 * resolves. Memory: at most `room` hosts plus one sweep's worth.
 */
export class HostQueue<T> {
  readonly #room: number;
  #items: T[] = [];
  #head = 0;
  #ended = false;
  #aborted = false;
  #takers: (() => void)[] = [];
  #space: (() => void) | undefined;

  constructor(room: number) {
    this.#room = room;
  }

  /** Hosts waiting to be taken. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  put(item: T): void {
    this.#items.push(item);
    this.#takers.shift()?.();
  }

  /** The next host, or undefined once the queue ended and is empty, or was aborted. */
  async take(): Promise<T | undefined> {
    for (;;) {
      if (this.#aborted) return undefined;
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head++] as T;
        if (this.#head > 4096) {
          this.#items.splice(0, this.#head);
          this.#head = 0;
        }
        this.#space?.();
        this.#space = undefined;
        return item;
      }
      if (this.#ended) return undefined;
      await new Promise<void>((r) => this.#takers.push(r));
    }
  }

  /** Resolves when fewer than `room` hosts wait (at once if so already). */
  async room(): Promise<void> {
    while (this.size >= this.#room && !this.#aborted) await new Promise<void>((r) => (this.#space = r));
  }

  /** No more hosts will be put; takers drain what is left. */
  end(): void {
    this.#ended = true;
    this.#wakeAll();
  }

  /** Stop: every waiter wakes; takes return undefined from now on. */
  abort(): void {
    this.#aborted = true;
    this.#wakeAll();
    this.#space?.();
    this.#space = undefined;
  }

  #wakeAll(): void {
    const w = this.#takers;
    this.#takers = [];
    for (const f of w) f();
  }
}
