/**
 * SimClock: virtual time for the discrete-event simulator. Events are
 * callbacks at a time; `run()` takes them in time order (ties in the order
 * they were scheduled) and advances `now()` to each, so a simulated hour takes
 * as long as its events do. It implements BudgetClock, so halfopen's own
 * HalfOpenBudget (core/half-open-budget.ts) runs inside a simulation
 * unchanged. Pure and deterministic.
 *
 *   heap of { time, seq, fn }  ──pop min (time, seq)──►  now = time; fn()
 */
import type { BudgetClock } from "../half-open-budget.js";

interface Timer {
  time: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class SimClock implements BudgetClock {
  #now = 0;
  #seq = 0;
  readonly #heap: Timer[] = [];

  now(): number {
    return this.#now;
  }

  /** Run `fn` `ms` from now (0: after what is already due now). */
  setTimer(fn: () => void, ms: number): Timer {
    const t: Timer = { time: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(t);
    return t;
  }

  /** Run `fn` at absolute time `time` (not before now). */
  at(time: number, fn: () => void): Timer {
    return this.setTimer(fn, time - this.#now);
  }

  clearTimer(handle: unknown): void {
    (handle as Timer).cancelled = true;
  }

  /** Events waiting. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Take events in order until none are left (or the next is after `until`); returns the time reached. */
  run(until = Number.POSITIVE_INFINITY): number {
    for (;;) {
      const t = this.#heap[0];
      if (!t || t.time > until) break;
      this.#pop();
      if (t.cancelled) continue;
      this.#now = t.time;
      t.fn();
    }
    return this.#now;
  }

  #before(a: Timer, b: Timer): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#before(h[i] as Timer, h[p] as Timer)) break;
      [h[i], h[p]] = [h[p] as Timer, h[i] as Timer];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Timer;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#before(h[l] as Timer, h[m] as Timer)) m = l;
      if (r < h.length && this.#before(h[r] as Timer, h[m] as Timer)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
      i = m;
    }
  }
}
