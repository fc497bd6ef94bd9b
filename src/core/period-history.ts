/**
 * PeriodHistory: checkpoints of the monitor's running totals, taken at each
 * tick, so a summary of any recent period is a pure read: totals now minus
 * totals at the checkpoint that starts the period, and the largest half-open
 * count seen in between. Any number of readers (the terminal's summary line,
 * a dashboard, metrics) can ask for their own periods; none resets anything.
 *
 * Bounded by time, not by the rate of ticks (a flood ticks a hundred times a
 * second): every checkpoint of the last `fineMs` is kept; older ones are
 * thinned to the first of each `coarseMs`, and a dropped one's maximum goes
 * to the next one kept, so no maximum is lost. A checkpoint `keep()` names
 * (where a reader's next period starts: watch's --interval summaries) is
 * never thinned. Checkpoints older than `keepMs`, or beyond `maxEntries`, are
 * dropped, and a period reaching further back starts at the oldest kept (and
 * says so in `start`). Pure.
 *
 *   fine (all, last fineMs)      coarse (first per coarseMs, and the kept ones)
 *   ... 61.20 61.21 61.22 ...    ... 58.0 59.0 59.37(kept) 60.0 ...
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
  /** Largest half-open count in (previous checkpoint kept, time]. */
  max: number;
  /** A period starts here: never thinned. */
  kept: boolean;
}

export interface PeriodHistoryOptions {
  /** How long checkpoints are kept at all. Default 1 hour. */
  keepMs?: number;
  /** Every checkpoint of this recent span is kept. Default 60 s. */
  fineMs?: number;
  /** Older ones: the first of each span this long. Default 1 s. */
  coarseMs?: number;
  /** A bound on checkpoints kept whatever their times (a reader that keeps one per call). Default 20,000. */
  maxEntries?: number;
}

export class PeriodHistory {
  readonly #keepMs: number;
  readonly #fineMs: number;
  readonly #coarseMs: number;
  readonly #maxEntries: number;
  /** Older checkpoints, thinned; from #coarseHead. */
  #coarse: Checkpoint[] = [];
  #coarseHead = 0;
  /** The recent ones, all; from #fineHead. */
  #fine: Checkpoint[] = [];
  #fineHead = 0;
  #max = 0;
  /** True once a checkpoint was dropped: totals before the oldest kept one are no longer known. */
  #dropped = false;

  constructor(options: PeriodHistoryOptions = {}) {
    this.#keepMs = options.keepMs ?? 3_600_000;
    this.#fineMs = Math.min(options.fineMs ?? 60_000, this.#keepMs);
    this.#coarseMs = options.coarseMs ?? 1000;
    this.#maxEntries = Math.max(2, options.maxEntries ?? 20_000);
  }

  /** Checkpoints kept now (for tests and memory checks). */
  get size(): number {
    return this.#coarse.length - this.#coarseHead + this.#fine.length - this.#fineHead;
  }

  /** The half-open count is now `halfOpen`. */
  observe(halfOpen: number): void {
    if (halfOpen > this.#max) this.#max = halfOpen;
  }

  /** Record the totals at `time`; `halfOpen` starts the next interval's maximum. */
  checkpoint(time: number, totals: Totals, halfOpen: number): void {
    const last = this.#fine[this.#fine.length - 1];
    if (last && last.time === time) {
      Object.assign(last, { attempts: totals.attempts, ended: { ...totals.ended }, lost: totals.lost, max: Math.max(last.max, this.#max) });
    } else {
      this.#fine.push({ time, attempts: totals.attempts, ended: { ...totals.ended }, lost: totals.lost, max: this.#max, kept: false });
    }
    this.#max = halfOpen;
    this.#thin(time);
    this.#drop(time);
  }

  /** Keep the checkpoint at `time` (if there is one): a period will start there. */
  keep(time: number): void {
    const p = this.#at(time);
    if (p && p.time === time) p.kept = true;
  }

  /** Move what left the fine span to the coarse one: the first of each coarseMs, and the kept ones. */
  #thin(now: number): void {
    const fine = this.#fine;
    while (this.#fineHead < fine.length - 1 && (fine[this.#fineHead] as Checkpoint).time < now - this.#fineMs) {
      const p = fine[this.#fineHead] as Checkpoint;
      const before = this.#coarse[this.#coarse.length - 1];
      if (p.kept || before === undefined || Math.floor(p.time / this.#coarseMs) !== Math.floor(before.time / this.#coarseMs)) this.#coarse.push(p);
      else {
        // Its interval joins the next one's: (before, next].
        const next = fine[this.#fineHead + 1] as Checkpoint;
        if (p.max > next.max) next.max = p.max;
      }
      this.#fineHead++;
    }
    if (this.#fineHead > 1024 && this.#fineHead * 2 > fine.length) {
      this.#fine = fine.slice(this.#fineHead);
      this.#fineHead = 0;
    }
  }

  /** Drop what is older than keepMs, and the oldest beyond maxEntries (always leaving the newest). */
  #drop(now: number): void {
    const coarse = this.#coarse;
    const fine = this.#fine;
    while (this.size > 1) {
      const inCoarse = this.#coarseHead < coarse.length;
      const oldest = (inCoarse ? coarse[this.#coarseHead] : fine[this.#fineHead]) as Checkpoint;
      if (oldest.time >= now - this.#keepMs && this.size <= this.#maxEntries) break;
      if (inCoarse) this.#coarseHead++;
      else this.#fineHead++;
      this.#dropped = true;
    }
    if (this.#coarseHead > 1024 && this.#coarseHead * 2 > coarse.length) {
      this.#coarse = coarse.slice(this.#coarseHead);
      this.#coarseHead = 0;
    }
  }

  /** The oldest checkpoint kept. */
  #oldest(): Checkpoint | undefined {
    return this.#coarseHead < this.#coarse.length ? this.#coarse[this.#coarseHead] : this.#fine[this.#fineHead];
  }

  /** The period (since, now]: what happened in it, given the totals now. */
  period(since: number, now: Totals, halfOpenNow: number): { start: number; attempts: number; ended: OutcomeCounts; lost: number; maxHalfOpen: number } {
    // Before the oldest kept checkpoint: start there once older ones were dropped (before any, the run began at zero).
    const base = this.#at(since) ?? (this.#dropped ? this.#oldest() : undefined);
    const zero: Totals = { attempts: 0, ended: emptyOutcomeCounts(), lost: 0 };
    const from = base ?? zero;
    const after = base?.time ?? since;
    let max = Math.max(this.#max, halfOpenNow);
    for (const [points, head] of [
      [this.#fine, this.#fineHead],
      [this.#coarse, this.#coarseHead],
    ] as const) {
      for (let i = points.length - 1; i >= head; i--) {
        const p = points[i] as Checkpoint;
        if (p.time <= after) break;
        if (p.max > max) max = p.max;
      }
    }
    const ended = emptyOutcomeCounts();
    for (const k of Object.keys(ended) as (keyof OutcomeCounts)[]) ended[k] = now.ended[k] - from.ended[k];
    return { start: base?.time ?? since, attempts: now.attempts - from.attempts, ended, lost: now.lost - from.lost, maxHalfOpen: max };
  }

  /** The last checkpoint at or before `time` (binary search in the fine span, then the coarse one), or undefined. */
  #at(time: number): Checkpoint | undefined {
    return search(this.#fine, this.#fineHead, time) ?? search(this.#coarse, this.#coarseHead, time);
  }
}

function search(points: Checkpoint[], head: number, time: number): Checkpoint | undefined {
  let lo = head;
  let hi = points.length - 1;
  let found: Checkpoint | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = points[mid] as Checkpoint;
    if (p.time <= time) {
      found = p;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
