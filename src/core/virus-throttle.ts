/**
 * Williamson's virus throttle, as a score (Williamson, "Throttling Viruses:
 * Restricting propagation to defeat malicious mobile code", HP Labs 2002;
 * Twycross and Williamson, USENIX Security 2003). The throttle keeps a
 * working set of the most recent destinations (5); a connect to one of them
 * passes, a connect to a new destination waits in a delay queue that is
 * released at one destination per second, each release joining the working
 * set (the least recent one leaves). Benign hosts make one or two new
 * destinations a second and the queue stays short; a scanner's grows without
 * bound. halfopen delays nothing: it computes the length the queue would
 * reach, as evidence. Pure.
 *
 *   connect(d) ── d in working set? ── yes ──► passes
 *                        │ no
 *                        ▼
 *             queue (distinct d, FIFO) ──► one release per `releaseMs` ──► working set (LRU, `workingSet`)
 *
 * The release clock ticks every `releaseMs` from the first queued connect;
 * a connect queued while the queue is empty waits for the next tick.
 */

export interface VirusThrottleOptions {
  /** Destinations in the working set. Default 5 (Williamson). */
  workingSet?: number;
  /** One queued destination is released this often. Default 1000 ms (Williamson). */
  releaseMs?: number;
}

export class VirusThrottle {
  readonly workingSetSize: number;
  readonly releaseMs: number;
  /** Least recent first. */
  readonly #working: string[] = [];
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  #nextRelease?: number;
  #peak = 0;
  #delayed = 0;

  constructor(options: VirusThrottleOptions = {}) {
    this.workingSetSize = options.workingSet ?? 5;
    this.releaseMs = options.releaseMs ?? 1000;
    if (!(Number.isInteger(this.workingSetSize) && this.workingSetSize >= 1)) throw new RangeError(`Cannot use workingSet ${this.workingSetSize}: it must be a whole number of at least 1`);
    if (!(this.releaseMs > 0)) throw new RangeError(`Cannot use releaseMs ${this.releaseMs}: it must be above 0`);
  }

  /** Destinations the queue held at most. */
  get peak(): number {
    return this.#peak;
  }

  /** Connects that would have been delayed. */
  get delayed(): number {
    return this.#delayed;
  }

  /** A connect to `destination` at `time`; returns the queue length after it (the score). */
  connect(destination: string, time: number): number {
    this.#release(time);
    const i = this.#working.indexOf(destination);
    if (i >= 0) {
      // Move it to the most recent end in place (splice would allocate an array per connect).
      const w = this.#working;
      for (let j = i; j < w.length - 1; j++) w[j] = w[j + 1] as string;
      w[w.length - 1] = destination;
      return this.#queue.length;
    }
    this.#delayed++;
    if (!this.#queued.has(destination)) {
      if (this.#queue.length === 0 && (this.#nextRelease === undefined || this.#nextRelease < time)) {
        // The release clock has ticked since: the next tick is a whole period after the last one.
        const last = this.#nextRelease === undefined ? time : this.#nextRelease + Math.floor((time - this.#nextRelease) / this.releaseMs) * this.releaseMs;
        this.#nextRelease = last + this.releaseMs;
      }
      this.#queue.push(destination);
      this.#queued.add(destination);
      if (this.#queue.length > this.#peak) this.#peak = this.#queue.length;
    }
    return this.#queue.length;
  }

  /** The queue length at `time`. */
  queueAt(time: number): number {
    this.#release(time);
    return this.#queue.length;
  }

  #release(time: number): void {
    while (this.#queue.length > 0 && this.#nextRelease !== undefined && this.#nextRelease <= time) {
      const d = this.#queue.shift() as string;
      this.#queued.delete(d);
      this.#working.push(d);
      if (this.#working.length > this.workingSetSize) this.#working.shift();
      this.#nextRelease += this.releaseMs;
    }
  }
}
