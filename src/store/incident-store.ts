/**
 * The incident history: an embedded SQLite database (better-sqlite3, built
 * from source) in WAL mode, so `halfopen incidents` reads while `watch`
 * writes. One row per incident holds the full report as JSON (with its
 * bounded sample of attempts: at most `samplesPerProcess` per process), and
 * the processes it names are indexed for `--comm` and `--pid`.
 *
 * - Schema migrations are numbered (`PRAGMA user_version`) and run in a
 *   transaction each; a database from a newer halfopen is refused, never
 *   altered. `application_id` marks the file as ours, so an unrelated SQLite
 *   file passed to `--db` is refused instead of gaining tables.
 * - Every write commits with `synchronous=FULL`: an incident `watch` reports
 *   as stored survives `kill -9` and a power cut.
 * - Retention: closed incidents older than `maxAgeMs` are deleted, then the
 *   oldest closed ones until the file's live pages fit `maxBytes`; freed
 *   pages go back to the file system (`auto_vacuum=INCREMENTAL`).
 * - SQLite failures become HalfOpenErrors with stable codes (DB_CORRUPT,
 *   DB_READONLY, DB_FULL, DB_VERSION, DB_MISSING, DB_FAILED).
 *
 * Needs: fs (creates the directory). Not part of the pure core.
 */
import { type Stats, accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { IncidentReport } from "../core/incident.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { ScanHistory } from "./scan-history.js";
import { type SqliteDatabase, sqlite } from "./sqlite.js";
import { storeError } from "./store-error.js";

/** "HOPN": marks a SQLite file as a halfopen incident database. */
export const APPLICATION_ID = 0x484f504e;

/** Schema migrations; index + 1 is the `user_version` each one produces. Never edit a released one: append. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id INTEGER PRIMARY KEY,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     pid INTEGER NOT NULL,
     pid_start_time INTEGER,
     hostname TEXT NOT NULL,
     source TEXT NOT NULL,
     half_open_limit INTEGER NOT NULL,
     version TEXT NOT NULL
   );
   CREATE TABLE incidents (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id INTEGER NOT NULL REFERENCES runs(id),
     run_incident INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     half_open_limit INTEGER NOT NULL,
     peak INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     trigger_pid INTEGER NOT NULL,
     trigger_name TEXT NOT NULL,
     report TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     UNIQUE (run_id, run_incident)
   );
   CREATE INDEX incidents_started_at ON incidents(started_at);
   CREATE TABLE incident_processes (
     incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
     process_key TEXT NOT NULL,
     pid INTEGER NOT NULL,
     name TEXT NOT NULL,
     start_time INTEGER,
     uid INTEGER,
     attempts INTEGER NOT NULL,
     peak_half_open INTEGER NOT NULL,
     PRIMARY KEY (incident_id, process_key)
   ) WITHOUT ROWID;
   CREATE INDEX incident_processes_name ON incident_processes(name);
   CREATE INDEX incident_processes_pid ON incident_processes(pid);`,
  // 2: `halfopen scan` results (scan-history.ts). Only hosts found up are stored; a finished scan's other addresses were down.
  `CREATE TABLE scans (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     state TEXT NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
     pid INTEGER NOT NULL,
     pid_start_time INTEGER,
     hostname TEXT NOT NULL,
     version TEXT NOT NULL,
     spec_key TEXT NOT NULL,
     spec TEXT NOT NULL,
     summary TEXT,
     up INTEGER NOT NULL DEFAULT 0,
     open INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX scans_spec_key ON scans(spec_key, id);
   CREATE TABLE scan_hosts (
     scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
     address TEXT NOT NULL,
     result TEXT NOT NULL,
     PRIMARY KEY (scan_id, address)
   ) WITHOUT ROWID;`,
  // 3: the names DNS answers gave addresses, as a running watch saw them (core/name-map.ts), for `halfopen ls`.
  `CREATE TABLE names (
     key TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     until INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX names_until ON names(until);`,
];

/** Names kept in the store at most (as many as a watch's map holds). */
export const MAX_STORED_NAMES = 65_536;

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface RetentionPolicy {
  /** Closed incidents that ended longer ago than this are deleted. Default 30 days. */
  maxAgeMs: number;
  /** The oldest closed incidents are deleted until the live data fits. Default 256 MiB. */
  maxBytes: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 30 * 86_400_000, maxBytes: 256 * 1024 * 1024 };

export interface RunInfo {
  startedAt: number;
  pid: number;
  pidStartTime?: number;
  hostname: string;
  source: string;
  limit: number;
  version: string;
}

/** An incident as stored. `state` "interrupted": left open by a watch that is no longer running. */
export interface StoredIncident {
  id: number;
  runId: number;
  runIncident: number;
  state: "open" | "closed" | "interrupted";
  hostname: string;
  source: string;
  report: IncidentReport;
}

export interface IncidentFilter {
  /** Incidents that started at or after this (ms since the epoch). */
  since?: number;
  /** Incidents that started at or before this. */
  until?: number;
  comm?: string[];
  pid?: number[];
  /** Newest first, at most this many. */
  limit?: number;
}

export interface StoreOpenOptions {
  path: string;
  /** Open for reading only (`halfopen incidents`); the file must exist. */
  readonly?: boolean;
  retention?: Partial<RetentionPolicy>;
  /** Tells whether a run's process still runs (for "interrupted"). Default: assume it does. */
  isRunAlive?: (pid: number, startTime?: number) => boolean;
  /** How long to wait for another connection's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Run `PRAGMA quick_check` when opening for writing. Default true. */
  check?: boolean;
  /** Create the file's directory when it is missing (the default path only; a path the user gave must have one). Default false. */
  createDirectory?: boolean;
}

/**
 * Refuse database paths that cannot hold incidents, before SQLite sees them:
 * empty, SQLite's in-memory names (nothing would be kept), directories,
 * devices and other non-files, an unreadable file, and (unless
 * `createDirectory`) a file whose directory does not exist.
 */
export function checkDbPath(path: string, options: { readonly?: boolean; createDirectory?: boolean } = {}): void {
  const bad = (what: string, code: (typeof ErrorCodes)[keyof typeof ErrorCodes] = ErrorCodes.BAD_USAGE) => new HalfOpenError(code, `Cannot use the incident database "${path}": ${what}`);
  if (path.trim() === "") throw bad("expected a file path");
  if (path === ":memory:" || path.startsWith("file:")) throw bad("SQLite would keep it in memory (or read it as a URI), so nothing would be stored; give a file path");
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES") throw bad("its directory cannot be searched (no permission)", ErrorCodes.DB_UNREADABLE);
    if (code !== "ENOENT" && code !== "ENOTDIR") throw bad(`it cannot be examined (${code ?? (e as Error).message})`, ErrorCodes.DB_FAILED);
  }
  if (st) {
    if (st.isDirectory()) throw bad("it is a directory; give the path of a file in it, e.g. --db " + join(path, "incidents.db"));
    if (!st.isFile()) throw bad("it is not a regular file (a device, pipe or socket)");
    // Whether it can be written is SQLite's to find out (read-only file, directory or mount: DB_READONLY).
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw bad("it cannot be read (no permission)", ErrorCodes.DB_UNREADABLE);
    }
    return;
  }
  if (options.readonly) return;
  const dir = dirname(path);
  if (!options.createDirectory && !existsSync(dir)) throw bad(`its directory "${dir}" does not exist; create it, or choose another --db`);
}

export { defaultDbPath } from "./db-path.js";

export { storeError } from "./store-error.js";

interface IncidentRow {
  id: number;
  run_id: number;
  run_incident: number;
  state: "open" | "closed";
  report: string;
  hostname: string;
  source: string;
  run_pid: number;
  pid_start_time: number | null;
  run_ended_at: number | null;
}

export class IncidentStore {
  readonly path: string;
  readonly retention: RetentionPolicy;
  readonly #db: SqliteDatabase;
  readonly #isRunAlive: (pid: number, startTime?: number) => boolean;
  readonly #aliveCache = new Map<number, boolean>();

  private constructor(path: string, db: SqliteDatabase, options: StoreOpenOptions) {
    this.path = path;
    this.#db = db;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.#isRunAlive = options.isRunAlive ?? (() => true);
  }

  /** Open (creating the file and directory when writing) and migrate. */
  static open(options: StoreOpenOptions): IncidentStore {
    const path = options.path;
    sqlite(); // a missing SQLite module is said first: no path would help
    checkDbPath(path, options);
    if (options.readonly && !existsSync(path)) {
      throw new HalfOpenError(ErrorCodes.DB_MISSING, `No incident database at ${path}: "halfopen watch" has not stored anything there yet (use --db PATH${process.geteuid?.() === 0 ? "" : ", or sudo to read the one root's watch writes in /var/lib/halfopen"})`);
    }
    let db: SqliteDatabase | undefined;
    try {
      if (!options.readonly && options.createDirectory) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // A new database holds command lines: readable by its owner only (SQLite gives its -wal and -shm the same mode).
      if (!options.readonly && !existsSync(path)) {
        try {
          closeSync(openSync(path, "wx", 0o600));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
      }
      try {
        db = new (sqlite())(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 5000 });
        if (options.readonly) db.pragma("schema_version"); // a WAL file opens lazily: fail here, not later
      } catch (e) {
        if (!options.readonly || !String((e as { code?: unknown }).code).startsWith("SQLITE_CANTOPEN")) throw e;
        db?.close();
        db = IncidentStore.#snapshot(path);
      }
      const store = new IncidentStore(path, db, options);
      store.#prepare(options);
      return store;
    } catch (e) {
      db?.close();
      throw storeError(e, path, options.readonly ? "read the incident database" : "open the incident database");
    }
  }

  /**
   * A WAL database on a read-only file system (a forensic copy, a read-only
   * mount) cannot be opened in place: SQLite needs to create its -shm file.
   * Read a copy into memory instead, marked as a rollback-journal file (header
   * bytes 18-19), which is how SQLite reads a checkpointed WAL database.
   * Frames still in a -wal file are not included; watch checkpoints on exit.
   */
  static #snapshot(path: string): SqliteDatabase {
    if (statSync(path).size > 1024 * 1024 * 1024) throw Object.assign(new Error("the file is over 1 GiB"), { code: "SQLITE_CANTOPEN" });
    const bytes = readFileSync(path);
    if (bytes.length >= 100 && bytes.toString("latin1", 0, 16) === "SQLite format 3\0" && bytes[18] === 2) {
      bytes[18] = 1;
      bytes[19] = 1;
    }
    return new (sqlite())(bytes, { readonly: true });
  }

  #prepare(options: StoreOpenOptions): void {
    const db = this.#db;
    const appId = db.pragma("application_id", { simple: true }) as number;
    const version = db.pragma("user_version", { simple: true }) as number;
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }).n;
    if (appId !== APPLICATION_ID && (tables > 0 || version > 0)) {
      throw new HalfOpenError(ErrorCodes.DB_CORRUPT, `${this.path} is a SQLite database, but not a halfopen one (application_id ${appId}); halfopen will not change it. Use another --db`);
    }
    if (version > SCHEMA_VERSION) {
      throw new HalfOpenError(ErrorCodes.DB_VERSION, `${this.path} has schema version ${version}, written by a newer halfopen; this one knows up to ${SCHEMA_VERSION}. Upgrade halfopen (the file was not changed)`);
    }
    if (options.readonly) {
      if (version < SCHEMA_VERSION) {
        throw new HalfOpenError(ErrorCodes.DB_VERSION, `${this.path} has schema version ${version}; run "halfopen watch" or "halfopen scan" once with this version to migrate it to ${SCHEMA_VERSION}`);
      }
      return;
    }
    if (tables === 0) db.pragma("auto_vacuum = INCREMENTAL"); // only takes effect on an empty file
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma("journal_size_limit = 4194304");
    if (options.check !== false && tables > 0) {
      const result = db.pragma("quick_check", { simple: true });
      if (result !== "ok") throw new HalfOpenError(ErrorCodes.DB_CORRUPT, `${this.path} failed SQLite's integrity check (${String(result)}); move it aside (nothing was changed) or use --db`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v] ?? "");
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  get schemaVersion(): number {
    return this.#db.pragma("user_version", { simple: true }) as number;
  }

  /** Record a watch run; incidents belong to it. */
  beginRun(run: RunInfo): number {
    return this.#write("record the watch run in", () => {
      const r = this.#db
        .prepare("INSERT INTO runs (started_at, pid, pid_start_time, hostname, source, half_open_limit, version) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .run(run.startedAt, run.pid, run.pidStartTime ?? null, run.hostname, run.source, run.limit, run.version);
      return Number(r.lastInsertRowid);
    });
  }

  /** Runs that have not ended and whose watch process still runs (another watch storing here). */
  liveRuns(exceptRunId?: number): { id: number; pid: number; startedAt: number }[] {
    const rows = this.#db.prepare("SELECT id, pid, pid_start_time, started_at FROM runs WHERE ended_at IS NULL").all() as { id: number; pid: number; pid_start_time: number | null; started_at: number }[];
    return rows.filter((r) => r.id !== exceptRunId && this.#isRunAlive(r.pid, r.pid_start_time ?? undefined)).map((r) => ({ id: r.id, pid: r.pid, startedAt: r.started_at }));
  }

  endRun(runId: number, endedAt: number): void {
    this.#write("close the watch run in", () => {
      this.#db.prepare("UPDATE runs SET ended_at = ? WHERE id = ?").run(endedAt, runId);
    });
  }

  /**
   * Insert or update an incident of a run (keyed by the run's own incident
   * number). Returns the database id, which `halfopen incidents show` takes.
   * Committed (fsync'd) when this returns.
   */
  saveIncident(runId: number, report: IncidentReport, nowWall = Date.now()): number {
    return this.#write("store an incident in", () =>
      this.#db.transaction(() => {
        const values = {
          runId,
          runIncident: report.id,
          state: report.state,
          startedAt: Math.round(report.startedAtWall),
          endedAt: report.endedAtWall === undefined ? null : Math.round(report.endedAtWall),
          limit: report.limit,
          peak: report.peak,
          attempts: report.attempts,
          triggerPid: report.trigger.pid,
          triggerName: report.trigger.name,
          report: JSON.stringify(report),
          now: nowWall,
        };
        // Not an upsert: INSERT ... ON CONFLICT would spend an AUTOINCREMENT id on every update.
        const existing = this.#db.prepare("SELECT id FROM incidents WHERE run_id = ? AND run_incident = ?").get(runId, report.id) as { id: number } | undefined;
        let row: { id: number };
        if (existing) {
          this.#db
            .prepare("UPDATE incidents SET state = @state, ended_at = @endedAt, peak = @peak, attempts = @attempts, report = @report, updated_at = @now WHERE id = @id")
            .run({ ...values, id: existing.id });
          row = existing;
        } else {
          row = this.#db
            .prepare(
              `INSERT INTO incidents (run_id, run_incident, state, started_at, ended_at, half_open_limit, peak, attempts, trigger_pid, trigger_name, report, updated_at)
               VALUES (@runId, @runIncident, @state, @startedAt, @endedAt, @limit, @peak, @attempts, @triggerPid, @triggerName, @report, @now) RETURNING id`,
            )
            .get(values) as { id: number };
        }
        this.#db.prepare("DELETE FROM incident_processes WHERE incident_id = ?").run(row.id);
        const insert = this.#db.prepare(
          "INSERT OR IGNORE INTO incident_processes (incident_id, process_key, pid, name, start_time, uid, attempts, peak_half_open) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        for (const p of report.processes) insert.run(row.id, p.processKey, p.pid, p.name, p.startTime ?? null, p.uid ?? null, p.attempts, p.peakHalfOpen);
        return row.id;
      }).immediate(),
    );
  }

  /** Incidents matching the filter, newest first. */
  list(filter: IncidentFilter = {}): StoredIncident[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.since !== undefined) {
      where.push("i.started_at >= @since");
      params.since = filter.since;
    }
    if (filter.until !== undefined) {
      where.push("i.started_at <= @until");
      params.until = filter.until;
    }
    if (filter.comm && filter.comm.length > 0) {
      where.push("EXISTS (SELECT 1 FROM incident_processes p WHERE p.incident_id = i.id AND p.name IN (SELECT value FROM json_each(@comm)))");
      params.comm = JSON.stringify(filter.comm);
    }
    if (filter.pid && filter.pid.length > 0) {
      where.push("EXISTS (SELECT 1 FROM incident_processes p WHERE p.incident_id = i.id AND p.pid IN (SELECT value FROM json_each(@pid)))");
      params.pid = JSON.stringify(filter.pid);
    }
    params.limit = filter.limit ?? -1;
    const sql = `${SELECT_INCIDENT} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY i.started_at DESC, i.id DESC LIMIT @limit`;
    return this.#read(() => (this.#db.prepare(sql).all(params) as IncidentRow[]).map((r) => this.#incident(r)));
  }

  get(id: number): StoredIncident | undefined {
    return this.#read(() => {
      const row = this.#db.prepare(`${SELECT_INCIDENT} WHERE i.id = ?`).get(id) as IncidentRow | undefined;
      return row ? this.#incident(row) : undefined;
    });
  }

  count(): number {
    return this.#read(() => (this.#db.prepare("SELECT count(*) AS n FROM incidents").get() as { n: number }).n);
  }

  /** Bytes the database's live pages take (what `maxBytes` bounds). */
  usedBytes(): number {
    const pageSize = this.#db.pragma("page_size", { simple: true }) as number;
    const pages = this.#db.pragma("page_count", { simple: true }) as number;
    const free = this.#db.pragma("freelist_count", { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  /** Apply the retention policy; returns how many incidents were deleted. */
  enforceRetention(nowWall = Date.now()): number {
    return this.#write("apply retention to", () => {
      let deleted = this.#db.prepare("DELETE FROM incidents WHERE state = 'closed' AND ended_at < ?").run(nowWall - this.retention.maxAgeMs).changes;
      const oldest = this.#db.prepare("DELETE FROM incidents WHERE id IN (SELECT id FROM incidents WHERE state = 'closed' ORDER BY started_at, id LIMIT ?)");
      for (let round = 0; round < 64 && this.usedBytes() > this.retention.maxBytes; round++) {
        const closed = (this.#db.prepare("SELECT count(*) AS n FROM incidents WHERE state = 'closed'").get() as { n: number }).n;
        if (closed === 0) break;
        deleted += oldest.run(Math.max(1, Math.ceil(closed / 10))).changes;
      }
      if (deleted > 0) {
        this.#db.prepare("DELETE FROM runs WHERE ended_at IS NOT NULL AND id NOT IN (SELECT DISTINCT run_id FROM incidents)").run();
        this.#db.pragma("incremental_vacuum");
      }
      return deleted;
    });
  }

  /**
   * Keep what a watch's name map learned (`keepMs` from `nowWall`); names
   * past their time are deleted, and the soonest to expire when more than
   * MAX_STORED_NAMES are held.
   */
  saveNames(entries: readonly { key: string; name: string; keepMs: number }[], nowWall = Date.now()): void {
    this.#write("store DNS names in", () => {
      const upsert = this.#db.prepare("INSERT INTO names (key, name, until) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET name = excluded.name, until = excluded.until");
      this.#db.transaction(() => {
        for (const e of entries) upsert.run(e.key, e.name, Math.round(nowWall + e.keepMs));
        this.#db.prepare("DELETE FROM names WHERE until < ?").run(nowWall);
        const n = (this.#db.prepare("SELECT count(*) AS n FROM names").get() as { n: number }).n;
        if (n > MAX_STORED_NAMES) this.#db.prepare("DELETE FROM names WHERE key IN (SELECT key FROM names ORDER BY until LIMIT ?)").run(n - MAX_STORED_NAMES);
      }).immediate();
    });
  }

  /** The names still held at `nowWall` for these keys (core/name-map.ts nameKey). */
  names(keys: Iterable<string>, nowWall = Date.now()): Map<string, string> {
    return this.#read(() => {
      const get = this.#db.prepare("SELECT name FROM names WHERE key = ? AND until >= ?");
      const out = new Map<string, string>();
      for (const k of new Set(keys)) {
        const row = get.get(k, nowWall) as { name: string } | undefined;
        if (row) out.set(k, row.name);
      }
      return out;
    });
  }

  /** The stored scans (same file, same connection). */
  scans(): ScanHistory {
    return new ScanHistory(this.#db, this.path, (pid, startTime) => this.#isRunAlive(pid, startTime));
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #incident(r: IncidentRow): StoredIncident {
    let state: StoredIncident["state"] = r.state;
    if (state === "open" && (r.run_ended_at !== null || !this.#runAlive(r.run_id, r.run_pid, r.pid_start_time ?? undefined))) state = "interrupted";
    return { id: r.id, runId: r.run_id, runIncident: r.run_incident, state, hostname: r.hostname, source: r.source, report: JSON.parse(r.report) as IncidentReport };
  }

  #runAlive(runId: number, pid: number, startTime?: number): boolean {
    let alive = this.#aliveCache.get(runId);
    if (alive === undefined) {
      alive = this.#isRunAlive(pid, startTime);
      this.#aliveCache.set(runId, alive);
    }
    return alive;
  }

  #write<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, this.path, action);
    }
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, this.path, "read the incident database");
    }
  }
}

const SELECT_INCIDENT = `SELECT i.id, i.run_id, i.run_incident, i.state, i.report, r.hostname, r.source, r.pid AS run_pid, r.pid_start_time, r.ended_at AS run_ended_at
  FROM incidents i JOIN runs r ON r.id = i.run_id`;
