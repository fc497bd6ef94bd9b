/**
 * What `watch` does with its incident database while it runs: saves each
 * incident when it opens, while it stays open and when it closes, and never
 * loses one when the database fails (disk full, file made read-only, I/O
 * error). A failed save keeps the newest report in memory and is retried
 * with the next save and every few seconds; the incident is still printed.
 *
 * Needs: the IncidentStore (fs). Not part of the pure core.
 */
import type { IncidentReport } from "../core/incident.js";
import { HalfOpenError } from "../errors.js";
import type { IncidentStore, RunInfo } from "./incident-store.js";

/** An incident that had failed to store and is stored now, with its database id. */
export interface LateStored {
  report: IncidentReport;
  id: number;
}

/** What one save did; `late`: earlier unstored incidents it stored first. */
export type SaveResult = ({ stored: true; id: number } | { stored: false; error: HalfOpenError; firstOfKind: boolean }) & { late: LateStored[] };

export interface StoreWriterOptions {
  /** Unstored incidents kept at most; past this the oldest is dropped and counted. Default 10000. */
  maxPending?: number;
  now?: () => number;
}

export class StoreWriter {
  readonly store: IncidentStore;
  readonly runId: number;
  /** Writes that failed. */
  failures = 0;
  /** Unstored incidents dropped because `maxPending` were already held. */
  dropped = 0;
  readonly #pending = new Map<number, IncidentReport>();
  readonly #ids = new Map<number, number>();
  readonly #max: number;
  readonly #now: () => number;
  #lastErrorCode?: string;
  #lastRetention = 0;

  constructor(store: IncidentStore, run: RunInfo, options: StoreWriterOptions = {}) {
    this.store = store;
    this.#max = options.maxPending ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.runId = store.beginRun(run);
    this.#retention();
  }

  /** Incidents waiting for the database. */
  get unstored(): number {
    return this.#pending.size;
  }

  /** The database id of a run incident, once stored. */
  idOf(runIncident: number): number | undefined {
    return this.#ids.get(runIncident);
  }

  /** Save (insert or update) an incident; earlier unstored ones go first. */
  save(report: IncidentReport): SaveResult {
    this.#pending.delete(report.id);
    const late = this.retry();
    try {
      const id = this.store.saveIncident(this.runId, report, this.#now());
      this.#ids.set(report.id, id);
      this.#lastErrorCode = undefined;
      if (report.state === "closed") this.#retention();
      return { stored: true, id, late };
    } catch (e) {
      const error = e instanceof HalfOpenError ? e : new HalfOpenError("HALFOPEN_DB_FAILED", String(e));
      this.failures++;
      if (this.#pending.size >= this.#max) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
        this.dropped++;
      }
      this.#pending.set(report.id, report);
      const firstOfKind = this.#lastErrorCode !== error.code;
      this.#lastErrorCode = error.code;
      return { stored: false, error, firstOfKind, late };
    }
  }

  /** Try the unstored incidents again, oldest first; returns those stored now. */
  retry(): LateStored[] {
    const done: LateStored[] = [];
    for (const [runIncident, report] of this.#pending) {
      try {
        const id = this.store.saveIncident(this.runId, report, this.#now());
        this.#ids.set(runIncident, id);
        this.#pending.delete(runIncident);
        done.push({ report, id });
      } catch {
        this.failures++;
        break;
      }
    }
    if (done.length > 0 && this.#pending.size === 0) this.#lastErrorCode = undefined;
    return done;
  }

  /** Mark the run ended (best effort) and close the database. Returns the incidents never stored. */
  close(): IncidentReport[] {
    this.retry();
    try {
      this.store.endRun(this.runId, this.#now());
    } catch {
      // The run row only dates the end; the incidents are what matters.
    }
    this.store.close();
    return [...this.#pending.values()];
  }

  #retention(): void {
    const now = this.#now();
    if (now - this.#lastRetention < 60_000) return;
    this.#lastRetention = now;
    try {
      this.store.enforceRetention(now);
    } catch {
      // Retention is retried on the next closed incident; a full disk shows up in save().
    }
  }
}
