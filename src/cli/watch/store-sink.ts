/**
 * The SQLite sink of `halfopen watch`: stores each incident when it opens,
 * every 5 s while it stays open and when it closes (store/store-writer.ts:
 * never loses one when the database fails, retries, says so once). It is
 * registered first, so it sets `storage` on incident findings before the
 * printers see them (they show the database id); incidents stored late are
 * published as `stored` items.
 *
 * Needs: better-sqlite3 (loaded only when storing), the database file.
 */
import { hostname } from "node:os";
import type { IncidentReport } from "../../core/incident.js";
import { type HalfOpenMonitor, isOutput } from "../../core/monitor.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { isAlive, readIdentity } from "../../platform/process-identity.js";
import type { LateStored, StoreWriter } from "../../store/store-writer.js";
import { VERSION } from "../../version.js";
import type { FinishFacts, Sink, StartFacts, WatchItem } from "./sink.js";

export interface StoreSinkOptions {
  /** `--db`; the default location otherwise (created when missing). */
  db?: string;
  retainMs: number;
  retainSizeMiB: number;
  source: string;
  limit: number;
  monitor: HalfOpenMonitor;
  /** Publish an item to every sink (late stores, store problems). */
  publish: (item: WatchItem) => void;
  /** How often an open incident is saved again. Default 5000 ms. */
  saveEveryMs?: number;
}

export class StoreSink implements Sink {
  readonly name = "store";
  readonly #o: StoreSinkOptions;
  #writer?: StoreWriter;
  #lastSave = 0;
  #lastNames = 0;
  #unsavedNames: { key: string; name: string; keepMs: number }[] = [];
  /** Incidents never stored, known once the run finished. */
  unstored: IncidentReport[] = [];

  constructor(options: StoreSinkOptions) {
    this.#o = options;
  }

  /** The database file, once opened. */
  path?: string;
  /** Why the default database could not be used (watch runs without storing, said once). */
  unavailable?: string;

  /** Store failures and incidents waiting, for the metrics. */
  stats(): { failures: number; unstored: number } {
    return { failures: this.#writer?.failures ?? 0, unstored: this.#writer?.unstored ?? 0 };
  }

  /**
   * Open the incident database for writing. A database the user named (--db,
   * HALFOPEN_DB) that cannot be used is an error; the default one (a user
   * with no writable home, a full or read-only disk) is not: watch runs
   * without storing and says why, once, as it already does when writes fail
   * mid-run.
   */
  async open(): Promise<StartFacts> {
    try {
      return await this.#open();
    } catch (e) {
      if (!(e instanceof HalfOpenError) || this.#o.db !== undefined || process.env.HALFOPEN_DB) throw e;
      this.unavailable =
        e.code === ErrorCodes.STORE_UNAVAILABLE
          ? `${e.message} [${e.code}]; watching without storing (--no-store says so quietly)`
          : `the incident database is unavailable (${(e.cause as Error | undefined)?.message ?? e.message} [${e.code}]): watching without storing; --db PATH stores elsewhere, --no-store says so quietly`;
      return { notStoring: "the database is unavailable" };
    }
  }

  async #open(): Promise<StartFacts> {
    const { IncidentStore, defaultDbPath } = await import("../../store/incident-store.js");
    const { StoreWriter } = await import("../../store/store-writer.js");
    const path = this.#o.db ?? defaultDbPath();
    // Only the default location is created; a path the user gave must be in a directory that exists.
    const createDirectory = this.#o.db === undefined && !process.env.HALFOPEN_DB;
    try {
      const store = IncidentStore.open({ path, createDirectory, retention: { maxAgeMs: this.#o.retainMs, maxBytes: this.#o.retainSizeMiB * 1024 * 1024 }, isRunAlive: isAlive });
      const other = store.liveRuns()[0];
      if (other) {
        store.close();
        throw new HalfOpenError(
          ErrorCodes.DB_IN_USE,
          `Cannot store incidents in ${path}: the watch with pid ${other.pid} (started ${new Date(other.startedAt).toISOString()}) already stores there, and both would store every incident; stop it, or give this one another --db`,
        );
      }
      const self = readIdentity(process.pid);
      this.#writer = new StoreWriter(store, {
        startedAt: Date.now(),
        pid: process.pid,
        ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }),
        hostname: hostname(),
        source: this.#o.source,
        limit: this.#o.limit,
        version: VERSION,
      });
      this.path = store.path;
      return { db: store.path, runId: this.#writer.runId };
    } catch (e) {
      if (e instanceof HalfOpenError) throw new HalfOpenError(e.code, `${e.message}; or watch with --no-store`, { cause: e });
      throw e;
    }
  }

  write(item: WatchItem): void {
    if (item.kind !== "finding" || !this.#writer) return;
    const o = item.finding;
    if (!isOutput(o, "incident-open") && !isOutput(o, "incident")) return;
    if (o.type === "incident-open") this.#lastSave = Date.now();
    const result = this.#writer.save(o.incident);
    this.#late(result.late);
    const runIncident = o.incident.id;
    if (result.stored) {
      item.storage = { stored: true, id: result.id, runIncident };
      return;
    }
    item.storage = { stored: false, runIncident, error: result.error.code };
    if (result.firstOfKind) {
      this.#o.publish({ kind: "warning", level: "warning", message: `incident ${runIncident} was not stored: ${result.error.message} [${result.error.code}]; it is kept in memory and retried` });
    }
  }

  /**
   * An open incident is saved again every few seconds, so a crash loses at
   * most that much of it; failed ones are retried. The names DNS answers gave
   * are copied every second, for `ls` (a failed copy is retried with the next).
   */
  tick(now: number): void {
    this.#names(now);
    if (!this.#writer || Date.now() - this.#lastSave < (this.#o.saveEveryMs ?? 5000)) return;
    this.#lastSave = Date.now();
    const open = this.#o.monitor.openIncident;
    if (open) this.#late(this.#writer.save(open).late);
    else this.#late(this.#writer.retry());
  }

  #names(now: number): void {
    if (!this.#writer || Date.now() - this.#lastNames < 1000) return;
    this.#lastNames = Date.now();
    const changed = this.#o.monitor.names.takeChanged(now);
    const batch = this.#unsavedNames.length > 0 ? [...this.#unsavedNames, ...changed].slice(-this.#o.monitor.names.maxEntries) : changed;
    if (batch.length === 0) return;
    try {
      this.#writer.store.saveNames(batch);
      this.#unsavedNames = [];
    } catch {
      this.#unsavedNames = batch;
    }
  }

  finish(): FinishFacts {
    if (!this.#writer) return {};
    this.unstored = this.#writer.close();
    this.#writer = undefined;
    return { unstored: this.unstored.length };
  }

  close(): void {
    this.#writer?.close();
    this.#writer = undefined;
  }

  #late(done: LateStored[]): void {
    for (const d of done) this.#o.publish({ kind: "stored", id: d.id, runIncident: d.report.id, state: d.report.state });
  }
}
