/**
 * PeriodHistory: checkpoints of the monitor's running totals, taken at each
 * tick, so a summary of any recent period is a pure read: totals now minus
 * totals at the checkpoint that starts the period, and the largest half-open
 * count seen in between. Any number of readers (the terminal's summary line,
 * a dashboard, metrics) can ask for their own periods; none resets anything.
 * Bounded: checkpoints older than `keepMs` (or beyond `maxEntries`) are
 * dropped, and a period reaching further back starts at the oldest kept. Pure.
 */
import { type OutcomeCounts, emptyOutcomeCounts } from "./attempt.js";

export interface Totals {
  attempts: number;
  /** Ended attempts by outcome. */
  ended: OutcomeCounts;
  lost: number;
}

interface Checkpoint extends Totals {
  time: number;
  /** Largest half-open count in (previous checkpoint, time]. */
  max: number;
}

export class PeriodHistory {
  readonly #keepMs: number;
  readonly #maxEntries: number;
  #points: Checkpoint[] = [];
  #head = 0;
  #max = 0;
  /** True once a checkpoint was dropped: totals before the oldest kept one are no longer known. */
  #dropped = false;

  constructor(options: { keepMs?: number; maxEntries?: number } = {}) {
    this.#keepMs = options.keepMs ?? 3_600_000;
    this.#maxEntries = options.maxEntries ?? 20_000;
  }

  /** The half-open count is now `halfOpen`. */
  observe(halfOpen: number): void {
    if (halfOpen > this.#max) this.#max = halfOpen;
  }

  /** Record the totals at `time`; `halfOpen` starts the next interval's maximum. */
  checkpoint(time: number, totals: Totals, halfOpen: number): void {
    const last = this.#points[this.#points.length - 1];
    if (last && last.time === time) {
      Object.assign(last, { attempts: totals.attempts, ended: { ...totals.ended }, lost: totals.lost, max: Math.max(last.max, this.#max) });
    } else {
      this.#points.push({ time, attempts: totals.attempts, ended: { ...totals.ended }, lost: totals.lost, max: this.#max });
    }
    this.#max = halfOpen;
    while (this.#head < this.#points.length - 1 && ((this.#points[this.#head] as Checkpoint).time < time - this.#keepMs || this.#points.length - this.#head > this.#maxEntries)) {
      this.#head++;
      this.#dropped = true;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#points.length) {
      this.#points = this.#points.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The period (since, now]: what happened in it, given the totals now. */
  period(since: number, now: Totals, halfOpenNow: number): { start: number; attempts: number; ended: OutcomeCounts; lost: number; maxHalfOpen: number } {
    // Before the oldest kept checkpoint: start there once older ones were dropped (before any, the run began at zero).
    const base = this.#at(since) ?? (this.#dropped ? this.#points[this.#head] : undefined);
    const zero: Totals = { attempts: 0, ended: emptyOutcomeCounts(), lost: 0 };
    const from = base ?? zero;
    let max = Math.max(this.#max, halfOpenNow);
    for (let i = this.#points.length - 1; i >= this.#head; i--) {
      const p = this.#points[i] as Checkpoint;
      if (p.time <= since) break;
      if (p.max > max) max = p.max;
    }
    const ended = emptyOutcomeCounts();
    for (const k of Object.keys(ended) as (keyof OutcomeCounts)[]) ended[k] = now.ended[k] - from.ended[k];
    return { start: base?.time ?? since, attempts: now.attempts - from.attempts, ended, lost: now.lost - from.lost, maxHalfOpen: max };
  }

  /** The last checkpoint at or before `time` (binary search), or undefined. */
  #at(time: number): Checkpoint | undefined {
    let lo = this.#head;
    let hi = this.#points.length - 1;
    let found: Checkpoint | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.#points[mid] as Checkpoint;
      if (p.time <= time) {
        found = p;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
