/**
 * Stored scans (`halfopen scan` writes, `halfopen scans` reads), in the same
 * SQLite file as the incidents (schema version 2). One row per scan with
 * what it covered (its spec, as JSON, and `spec_key`, the part that decides
 * which addresses and ports it checks, so a round of `--every` finds the
 * previous round of the same scan) and its summary; one row per host found
 * up with its ports. A finished scan's other addresses were down.
 *
 * A scan is 'running' until it ends 'done' or 'interrupted'; one left
 * 'running' by a process that is gone (kill -9) reads as interrupted.
 * Hosts are written in batches, each batch one transaction.
 */
import type Database from "better-sqlite3";
import type { ScanSpec } from "../core/scan/journal.js";
import { specKey } from "../core/scan/journal.js";
import type { HostResult } from "../core/scan/model.js";
import { storeError } from "./store-error.js";

export interface ScanRunInfo {
  startedAt: number;
  pid: number;
  pidStartTime?: number;
  hostname: string;
  version: string;
  spec: ScanSpec;
}

export interface StoredScan {
  id: number;
  startedAt: number;
  endedAt?: number;
  state: "running" | "done" | "interrupted";
  hostname: string;
  version: string;
  spec: ScanSpec;
  summary?: Record<string, unknown>;
  up: number;
  open: number;
}

interface ScanRow {
  id: number;
  started_at: number;
  ended_at: number | null;
  state: "running" | "done" | "interrupted";
  pid: number;
  pid_start_time: number | null;
  hostname: string;
  version: string;
  spec: string;
  summary: string | null;
  up: number;
  open: number;
}

export class ScanHistory {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #isAlive: (pid: number, startTime?: number) => boolean;

  constructor(db: Database.Database, path: string, isAlive: (pid: number, startTime?: number) => boolean) {
    this.#db = db;
    this.#path = path;
    this.#isAlive = isAlive;
  }

  begin(run: ScanRunInfo): number {
    return this.#write("record the scan in", () =>
      Number(
        this.#db
          .prepare("INSERT INTO scans (started_at, state, pid, pid_start_time, hostname, version, spec_key, spec) VALUES (?, 'running', ?, ?, ?, ?, ?, ?)")
          .run(run.startedAt, run.pid, run.pidStartTime ?? null, run.hostname, run.version, specKey(run.spec), JSON.stringify(run.spec)).lastInsertRowid,
      ),
    );
  }

  /** Hosts found up (others are ignored), in one transaction. */
  addHosts(scanId: number, hosts: readonly HostResult[]): void {
    const up = hosts.filter((h) => h.status === "up");
    if (up.length === 0) return;
    this.#write("store scan results in", () => {
      const insert = this.#db.prepare("INSERT OR REPLACE INTO scan_hosts (scan_id, address, result) VALUES (?, ?, ?)");
      this.#db.transaction(() => {
        for (const h of up) insert.run(scanId, h.address, JSON.stringify(h));
      })();
    });
  }

  end(scanId: number, state: "done" | "interrupted", endedAt: number, summary: object): void {
    this.#write("finish the scan in", () => {
      const counts = this.#db.prepare("SELECT count(*) AS up, coalesce(sum((SELECT count(*) FROM json_each(result, '$.ports') WHERE json_extract(value, '$.state') = 'open')), 0) AS open FROM scan_hosts WHERE scan_id = ?").get(scanId) as { up: number; open: number };
      this.#db.prepare("UPDATE scans SET state = ?, ended_at = ?, summary = ?, up = ?, open = ? WHERE id = ?").run(state, endedAt, JSON.stringify(summary), counts.up, counts.open, scanId);
    });
  }

  /** Newest first. */
  list(filter: { limit?: number; specKey?: string; before?: number } = {}): StoredScan[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: filter.limit ?? -1 };
    if (filter.specKey !== undefined) {
      where.push("spec_key = @specKey");
      params.specKey = filter.specKey;
    }
    if (filter.before !== undefined) {
      where.push("id < @before");
      params.before = filter.before;
    }
    const sql = `SELECT * FROM scans ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT @limit`;
    return this.#read(() => (this.#db.prepare(sql).all(params) as ScanRow[]).map((r) => this.#scan(r)));
  }

  get(id: number): StoredScan | undefined {
    return this.#read(() => {
      const r = this.#db.prepare("SELECT * FROM scans WHERE id = ?").get(id) as ScanRow | undefined;
      return r ? this.#scan(r) : undefined;
    });
  }

  /** The hosts a scan found up, in address order as stored. */
  hosts(scanId: number): HostResult[] {
    return this.#read(() => (this.#db.prepare("SELECT result FROM scan_hosts WHERE scan_id = ?").all(scanId) as { result: string }[]).map((r) => JSON.parse(r.result) as HostResult));
  }

  /** The latest scan of the same addresses and ports before `beforeId` (any, if not given) that is not running. */
  previous(spec: ScanSpec, beforeId?: number): StoredScan | undefined {
    return this.list({ specKey: specKey(spec), ...(beforeId === undefined ? {} : { before: beforeId }) }).find((s) => s.state !== "running");
  }

  /** Scans that ended before `olderThan` (epoch ms), with their hosts. */
  prune(olderThan: number): number {
    return this.#write("apply retention to", () => this.#db.prepare("DELETE FROM scans WHERE state != 'running' AND ended_at < ?").run(olderThan).changes);
  }

  #scan(r: ScanRow): StoredScan {
    let state = r.state;
    if (state === "running" && !this.#isAlive(r.pid, r.pid_start_time ?? undefined)) state = "interrupted";
    return {
      id: r.id,
      startedAt: r.started_at,
      ...(r.ended_at === null ? {} : { endedAt: r.ended_at }),
      state,
      hostname: r.hostname,
      version: r.version,
      spec: JSON.parse(r.spec) as ScanSpec,
      ...(r.summary === null ? {} : { summary: JSON.parse(r.summary) as Record<string, unknown> }),
      up: r.up,
      open: r.open,
    };
  }

  #write<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, this.#path, action);
    }
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, this.#path, "read the scan history in");
    }
  }
}
