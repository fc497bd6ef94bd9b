/**
 * The sink contract of `halfopen watch`, and the chain that runs them.
 *
 * `watch` is wiring: a source, the pure core (HalfOpenMonitor and its
 * detectors) and a list of sinks (sinks.ts). Each sink is one file that
 * takes what it needs of what the run publishes: the start, every finding
 * (incidents, loss, blindness, other detectors' findings), summaries,
 * warnings, late stores and the stop. A sink that holds a resource (a
 * database, a port, a file) acquires it in `open()` and releases it in
 * `close()`.
 *
 * The chain's invariants:
 *   - sinks open in registration order; if one throws, the ones already
 *     open are closed in reverse order and the error goes to the caller;
 *   - every item reaches every sink in registration order, so a sink may
 *     annotate an item for the sinks after it (the store sink, registered
 *     first, sets `storage` on incident findings: the printers show the
 *     database id);
 *   - an item a sink publishes while handling another is delivered after
 *     that one has reached every sink (never interleaved);
 *   - `close()` closes every opened sink once, in reverse order, on every exit
 *     path (stop, error at start, EPIPE), and keeps going past a sink that
 *     throws; the first error is rethrown after all are closed.
 *
 * Needs: nothing (the sinks say what they need).
 */
import type { EnforceStart, EnforceStop } from "../../core/enforce/types.js";
import type { ConnectionEvent } from "../../core/events.js";
import type { MonitorOutput, MonitorSummary, MonitorTotals } from "../../core/monitor.js";
import type { ConnectionSource, SourceStats } from "../../core/source.js";

/** Facts a sink adds to the start record when it opens (the database path, the metrics URL). */
export interface StartFacts {
  db?: string;
  runId?: number;
  metrics?: string;
  /** The dashboard's URL, with the token (--ui). */
  ui?: string;
  /** Why incidents are not stored, when they are not. */
  notStoring?: string;
  /** `--enforce`: the limit held, and how. */
  enforce?: EnforceStart;
}

/** Where an incident finding was stored; set by the store sink for the sinks after it. */
export type Storage = { stored: true; id: number; runIncident: number } | { stored: false; runIncident: number; error: string };

export interface StartItem extends StartFacts {
  kind: "start";
  source: ConnectionSource;
  replay: boolean;
  limit: number;
  quietMs: number;
  filtered: boolean;
  /** Why the preferred source was not used. */
  fallback?: string;
  time: number;
  timeWall: number;
}

export interface FindingItem {
  kind: "finding";
  finding: MonitorOutput;
  /** The source's clock when it was published. */
  emittedAt: number;
  storage?: Storage;
}

export interface SummaryItem {
  kind: "summary";
  summary: MonitorSummary;
}

/** `note`: something to know (stdout in text mode); `warning`: something went wrong (stderr in text mode). */
export interface WarningItem {
  kind: "warning";
  level: "note" | "warning";
  message: string;
}

/** An incident that had failed to store is stored now. */
export interface StoredItem {
  kind: "stored";
  id: number;
  runIncident: number;
  state: "open" | "closed" | "interrupted";
}

export interface StopItem {
  kind: "stop";
  totals: MonitorTotals;
  /** Verdicts reached (scan-detector.ts counts()). */
  verdicts: { scanner: number; benign: number; trustedScanner: number };
  sourceStats: SourceStats;
  time: number;
  timeWall: number;
  /** Incidents never stored (when storing). */
  unstored?: number;
  enforce?: EnforceStop;
}

export type WatchItem = StartItem | FindingItem | SummaryItem | WarningItem | StoredItem | StopItem;

/** Facts a sink reports when the run ends, before the stop item. */
export interface FinishFacts {
  unstored?: number;
  enforce?: EnforceStop;
}

export interface Sink {
  readonly name: string;
  /** Acquire resources; throw (a HalfOpenError with a stable code) when it cannot. */
  open?(): Promise<StartFacts | void> | StartFacts | void;
  /** A batch of events from the source, before the core sees it. */
  events?(batch: readonly ConnectionEvent[]): void;
  /** The core's clock advanced to `now` (after the monitor ticked). */
  tick?(now: number): void;
  /** One published item. */
  write?(item: WatchItem): void;
  /** The run is ending (the source stopped): last work that may add to the stop record. */
  finish?(now: number): FinishFacts | void | Promise<FinishFacts | void>;
  /** Release what `open()` acquired. Called once, for opened sinks only. */
  close?(): void;
}

export class SinkChain {
  readonly #sinks: readonly Sink[];
  readonly #opened: Sink[] = [];
  readonly #queue: WatchItem[] = [];
  #delivering = false;
  #closed = false;

  constructor(sinks: readonly Sink[]) {
    this.#sinks = sinks;
  }

  /** Open every sink in order; on a failure close the opened ones (reverse order) and rethrow. */
  async open(): Promise<StartFacts> {
    const facts: StartFacts = {};
    for (const sink of this.#sinks) {
      try {
        const f = await sink.open?.();
        this.#opened.push(sink);
        if (f) Object.assign(facts, f);
      } catch (e) {
        this.close();
        throw e;
      }
    }
    return facts;
  }

  /** Deliver an item to every sink in order (queued behind the item being delivered, if any). */
  publish(item: WatchItem): void {
    if (this.#closed) return;
    this.#queue.push(item);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        for (const sink of this.#opened) sink.write?.(next);
      }
    } finally {
      this.#delivering = false;
    }
  }

  events(batch: readonly ConnectionEvent[]): void {
    for (const sink of this.#opened) sink.events?.(batch);
  }

  tick(now: number): void {
    for (const sink of this.#opened) sink.tick?.(now);
  }

  /** Ask every sink to finish, in order; their facts go into the stop record. */
  async finish(now: number): Promise<FinishFacts> {
    const facts: FinishFacts = {};
    for (const sink of this.#opened) {
      const f = await sink.finish?.(now);
      if (f) Object.assign(facts, f);
    }
    return facts;
  }

  /** Close every opened sink once, newest first; the first error is rethrown after all are closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let first: unknown;
    for (const sink of this.#opened.reverse()) {
      try {
        sink.close?.();
      } catch (e) {
        first ??= e;
      }
    }
    this.#opened.length = 0;
    if (first !== undefined) throw first;
  }
}
