/**
 * What the dashboard shows, kept as data: the host-wide half-open series
 * with the top processes' series, the process table, the incidents and the
 * watch's records, each change numbered so a browser that reconnects with
 * `Last-Event-ID` gets exactly what it missed (or a new snapshot when that
 * has left the buffer). Pure: every time comes in as an argument; the sink
 * (cli/watch/ui-sink.ts) feeds it, the server (server.ts) reads it.
 *
 * Records are the ones `watch --json` prints (docs/watch.md), plus `live`:
 * one sample of the half-open count, the top processes' counts and the
 * table rows that changed since the previous sample, and the scans started
 * from the page (`scan-start`, `scan-progress`, `scan-hosts`, `scan-end`,
 * `scan-stop`; dashboard/scans.ts makes them).
 *
 * Everything a process controls (name, command line, user) stays data here;
 * the page sets it as text, never as HTML.
 */
import type { ScanChange } from "../core/scan/diff.js";
import type { HostView, ScanSummaryJson } from "../core/scan/model.js";
import type { IncidentRecord, OtherFindingRecord, StartRecord, VerdictRecord, WatchRecord } from "../core/watch-records.js";

export interface ProcessFacts {
  pid: number;
  name: string;
  user?: string;
  uid?: number;
  cmdline?: string[];
  startTime?: number;
  unit?: string;
  container?: string;
}

export interface ProcessRow {
  key: string;
  pid: number;
  name: string;
  user?: string;
  cmdline?: string;
  startTime?: number;
  where?: string;
  halfOpen: number;
  attempts: number;
  /** Attempts that ended without a connection (refused, timed out, abandoned, unknown). */
  failed: number;
  /** failed / ended, 0..1 (0 before any ended). */
  failureRatio: number;
  verdict?: string;
  /** It sends SYNs without connect(): through a raw IP socket or a packet socket. */
  via?: "raw" | "packet";
  exited: boolean;
  /** Wall ms when the dashboard first saw it. */
  firstSeen: number;
}

/** One process's counts, as the monitor's totals give them. */
export interface ProcessCounts {
  key: string;
  pid: number;
  name: string;
  attempts: number;
  ended: number;
  failed: number;
  /** It sends SYNs without connect(): through a raw IP socket or a packet socket. */
  via?: "raw" | "packet";
  exited: boolean;
}

export interface LivePoint {
  /** Wall ms. */
  t: number;
  halfOpen: number;
  /** Half-open of the top processes (by key) at that time. */
  top: Record<string, number>;
}

/** One sample for the chart and the table rows that changed since the previous one (four a second). */
export interface LiveRecord extends LivePoint {
  type: "live";
  limit: number;
  rows: ProcessRow[];
}

/** The page's scans (dashboard/scans.ts makes them). */
export interface ScanStartRecord {
  type: "scan-start";
  id: number;
  series: number;
  round: number;
  /** ms since the epoch; `startedAt`, the same number, stays one release. */
  startedAtWall: number;
  startedAt: number;
  total: number;
  spec: ScanView["spec"];
  scanId?: number;
}
export interface ScanProgressRecord {
  type: "scan-progress";
  id: number;
  progress: ScanProgress;
}
export interface ScanHostsRecord {
  type: "scan-hosts";
  id: number;
  hosts: HostView[];
}
export interface ScanEndRecord {
  type: "scan-end";
  id: number;
  state: "done" | "interrupted" | "failed";
  endedAtWall: number;
  endedAt: number;
  progress: ScanProgress;
  summary: ScanSummaryJson;
  changes: ScanChange[];
  previous?: { id?: number; scanId?: number };
  scanId?: number;
  error?: string;
  nextAtWall?: number;
  nextAt?: number;
}
export interface ScanStopRecord {
  type: "scan-stop";
  series: number;
  atWall: number;
  at: number;
}
export type ScanRecord = ScanStartRecord | ScanProgressRecord | ScanHostsRecord | ScanEndRecord | ScanStopRecord;

/** Every record the page gets over the event stream (the snapshot aside): watch's own, the samples, the scans. */
export type DashboardRecord = WatchRecord | LiveRecord | ScanRecord;
/** A record, or another detector's finding this build does not know (passed on as data). */
export type AnyDashboardRecord = DashboardRecord | OtherFindingRecord;

/** Narrows a record to one known type: `if (isRecord(r, "incident")) r.peak`. */
export function isRecord<T extends DashboardRecord["type"]>(r: AnyDashboardRecord, type: T): r is Extract<DashboardRecord, { type: T }> {
  return r.type === type;
}

export interface DashboardEvent {
  id: number;
  record: AnyDashboardRecord;
  /** The record as JSON, made once when the event is made (every client sends the same text). */
  data: string;
}

export interface ScanProgress {
  done: number;
  total: number;
  up: number;
  open: number;
  unknown: number;
  /** Addresses finished per second so far. */
  ratePerS: number;
  /** Time left at that rate, ms (absent before any address finished). */
  etaMs?: number;
}

/** A scan started from the page: one round of a series (a series repeats every `everyMs`). */
export interface ScanView {
  id: number;
  series: number;
  round: number;
  spec: { targets: string[]; exclude: string[]; ports: number[]; maxHalfOpen: number; discovery: string; everyMs?: number };
  state: "running" | "done" | "interrupted" | "failed";
  /** ms since the epoch; `startedAt`/`endedAt`, the same numbers, stay one release. */
  startedAtWall: number;
  endedAtWall?: number;
  startedAt: number;
  endedAt?: number;
  progress: ScanProgress;
  /** Hosts found up, in the order they finished (at most `maxScanHosts`; `truncated` says when more were found). */
  hosts: HostView[];
  truncated: boolean;
  /** Its hosts were let go to make room for newer scans' (the database has them: `scanId`). */
  dropped?: boolean;
  summary?: ScanEndRecord["summary"];
  /** What changed since `previous` (a stored scan or this run's previous round of the same targets and ports). */
  changes?: ScanChange[];
  previous?: { id?: number; scanId?: number };
  /** The scan's id in the database, when stored. */
  scanId?: number;
  /** When the next round of the series starts (ms since the epoch), while one is due; `nextAt` the same, one release. */
  nextAtWall?: number;
  nextAt?: number;
  error?: string;
}

/** A scan without its hosts, for lists. */
export type ScanBrief = Omit<ScanView, "hosts" | "changes"> & { changeCount?: number };

export interface Snapshot {
  type: "snapshot";
  /** The id of the last event the snapshot includes. */
  id: number;
  limit: number;
  start?: StartRecord;
  points: LivePoint[];
  rows: ProcessRow[];
  incidents: IncidentRecord[];
  verdicts: VerdictRecord[];
  warnings: string[];
  stopped: boolean;
  /** The page's scans, newest last, without hosts; `scan` is the newest with them. */
  scans: ScanBrief[];
  scan?: ScanView;
}

export interface DashboardModelOptions {
  limit: number;
  /** Samples kept for the chart. Default 2400 (10 min at 4 a second). */
  maxPoints?: number;
  /** Events kept for Last-Event-ID. Default 5000. */
  maxEvents?: number;
  /** Bytes of JSON kept for Last-Event-ID, whatever the count. Default 8 MiB. */
  maxEventBytes?: number;
  /** Rows sent in one `live` event; the rest go in the next ones. Default 500. */
  maxRowsPerEvent?: number;
  /** Processes remembered as evicted from the table, so they are not sent again while nothing changes. Default 100,000. */
  maxEvicted?: number;
  /** Rows kept (the most attempts, then the newest). Default 500. */
  maxRows?: number;
  /** Series drawn besides the total. Default 5. */
  topSeries?: number;
  /** Incidents kept. Default 200. */
  maxIncidents?: number;
  /** Scans kept. Default 20. */
  maxScans?: number;
  /** Hosts kept per scan (the database has them all). Default 10,000. */
  maxScanHosts?: number;
  /** Hosts kept across scans: the oldest scans' go first. Default 20,000. */
  maxHostsKept?: number;
}

const ROW_FIELDS = ["halfOpen", "attempts", "failed", "verdict", "via", "exited", "name", "cmdline", "user"] as const;

export class DashboardModel {
  readonly limit: number;
  readonly #o: Required<DashboardModelOptions>;
  #id = 0;
  readonly #events: DashboardEvent[] = [];
  #eventBytes = 0;
  /** Processes let go from the table, with their attempts then: they come back only when they make more. */
  readonly #evicted = new Map<string, number>();
  readonly #points: LivePoint[] = [];
  readonly #rows = new Map<string, ProcessRow>();
  readonly #incidents = new Map<string, IncidentRecord>();
  readonly #verdicts = new Map<string, VerdictRecord>();
  readonly #warnings: string[] = [];
  readonly #scans = new Map<number, ScanView>();
  #hostsKept = 0;
  #start?: StartRecord;
  #stopped = false;

  constructor(options: DashboardModelOptions) {
    this.#o = { maxPoints: 2400, maxEvents: 5000, maxEventBytes: 8 * 1024 * 1024, maxRowsPerEvent: 500, maxEvicted: 100_000, maxRows: 500, topSeries: 5, maxIncidents: 200, maxScans: 20, maxScanHosts: 10_000, maxHostsKept: 20_000, ...options };
    this.limit = options.limit;
  }

  get lastId(): number {
    return this.#id;
  }

  #push<R extends AnyDashboardRecord>(record: R): DashboardEvent & { record: R } {
    const event = { id: ++this.#id, record, data: JSON.stringify(record) };
    this.#events.push(event);
    this.#eventBytes += event.data.length;
    let drop = 0;
    let bytes = this.#eventBytes;
    while (drop < this.#events.length - 1 && (this.#events.length - drop > this.#o.maxEvents || bytes > this.#o.maxEventBytes)) bytes -= (this.#events[drop++] as DashboardEvent).data.length;
    if (drop > 0) {
      this.#events.splice(0, drop);
      this.#eventBytes = bytes;
    }
    return event;
  }

  /** Bytes of JSON held for resumes. */
  get eventBytes(): number {
    return this.#eventBytes;
  }

  /** The event's record as JSON (made once). */
  json(e: DashboardEvent): string {
    return e.data;
  }

  /** A `watch --json` record, or one of the page's scans. Returns the event to send. */
  record(record: AnyDashboardRecord): DashboardEvent {
    if (isRecord(record, "start")) this.#start = record;
    else if (isRecord(record, "incident-open") || isRecord(record, "incident")) {
      const key = String(record.runIncident ?? record.id);
      this.#incidents.delete(key); // newest last
      this.#incidents.set(key, record);
      while (this.#incidents.size > this.#o.maxIncidents) this.#incidents.delete(this.#incidents.keys().next().value as string);
    } else if (isRecord(record, "verdict")) {
      this.#verdicts.set(record.processKey, record);
      const row = this.#rows.get(record.processKey);
      if (row) row.verdict = record.verdict;
    } else if (isRecord(record, "warning")) {
      this.#warnings.push(record.message);
      if (this.#warnings.length > 50) this.#warnings.shift();
    } else if (isRecord(record, "stop")) this.#stopped = true;
    else if (isRecord(record, "scan-start") || isRecord(record, "scan-progress") || isRecord(record, "scan-hosts") || isRecord(record, "scan-end") || isRecord(record, "scan-stop")) this.#scan(record);
    return this.#push(record);
  }

  #scan(r: ScanRecord): void {
    if (r.type === "scan-start") {
      const view: ScanView = {
        id: r.id,
        series: r.series,
        round: r.round,
        spec: r.spec,
        state: "running",
        startedAtWall: r.startedAtWall,
        startedAt: r.startedAtWall,
        progress: { done: 0, total: r.total, up: 0, open: 0, unknown: 0, ratePerS: 0 },
        hosts: [],
        truncated: false,
        ...(r.scanId === undefined ? {} : { scanId: r.scanId }),
      };
      // A new round replaces its series' due time.
      for (const s of this.#scans.values()) if (s.series === view.series) dropNextRound(s);
      this.#scans.set(view.id, view);
      while (this.#scans.size > this.#o.maxScans) {
        const oldest = this.#scans.keys().next().value as number;
        this.#hostsKept -= this.#scans.get(oldest)?.hosts.length ?? 0;
        this.#scans.delete(oldest);
      }
      return;
    }
    if (r.type === "scan-stop") {
      for (const s of this.#scans.values()) if (s.series === r.series) dropNextRound(s);
      return;
    }
    const view = this.#scans.get(r.id);
    if (!view) return;
    if (r.type === "scan-progress") view.progress = r.progress;
    else if (r.type === "scan-hosts") this.#addHosts(view, r.hosts);
    else {
      view.state = r.state;
      view.endedAtWall = r.endedAtWall;
      view.endedAt = r.endedAtWall;
      view.progress = r.progress;
      view.summary = r.summary;
      view.changes = r.changes;
      if (r.previous) view.previous = r.previous;
      if (r.scanId !== undefined) view.scanId = r.scanId;
      if (r.nextAtWall !== undefined) {
        view.nextAtWall = r.nextAtWall;
        view.nextAt = r.nextAtWall;
      }
      if (r.error !== undefined) view.error = r.error;
    }
  }

  /** A scan's newest hosts, within its bound; older scans let theirs go, oldest first, to make room. */
  #addHosts(view: ScanView, hosts: readonly HostView[]): void {
    const room = Math.max(0, this.#o.maxScanHosts - view.hosts.length);
    if (hosts.length > room) view.truncated = true;
    view.hosts.push(...hosts.slice(0, room));
    this.#hostsKept += Math.min(room, hosts.length);
    for (const old of this.#scans.values()) {
      if (this.#hostsKept <= this.#o.maxHostsKept || old === view) break;
      if (old.hosts.length === 0) continue;
      this.#hostsKept -= old.hosts.length;
      old.hosts = [];
      old.dropped = true;
    }
  }

  /** A scan started from the page, with its hosts. */
  scan(id: number): ScanView | undefined {
    const s = this.#scans.get(id);
    return s ? { ...s, hosts: [...s.hosts] } : undefined;
  }

  /** The page's scans, newest first, without hosts. */
  scans(): ScanBrief[] {
    return [...this.#scans.values()].reverse().map(brief);
  }

  /**
   * One sample: the host-wide half-open count, each process's half-open now,
   * its counts, and what is known of it. Rows that changed go into the event.
   */
  live(t: number, halfOpen: number, perProcess: readonly { key: string; halfOpen: number }[], counts: readonly ProcessCounts[], facts: (key: string) => ProcessFacts | undefined, verdict: (key: string) => string | undefined): DashboardEvent & { record: LiveRecord } {
    const now = new Map(perProcess.map((p) => [p.key, p.halfOpen]));
    const top = [...perProcess]
      .filter((p) => p.halfOpen > 0)
      .sort((a, b) => b.halfOpen - a.halfOpen || (a.key < b.key ? -1 : 1))
      .slice(0, this.#o.topSeries);
    const point: LivePoint = { t, halfOpen, top: Object.fromEntries(top.map((p) => [p.key, p.halfOpen])) };
    this.#points.push(point);
    if (this.#points.length > this.#o.maxPoints) this.#points.splice(0, this.#points.length - this.#o.maxPoints);
    const changed: ProcessRow[] = [];
    for (const c of counts) {
      const old = this.#rows.get(c.key);
      if (!old) {
        // Let go from the table: back only when it makes more attempts (an exited one never does).
        const then = this.#evicted.get(c.key);
        if (then !== undefined && c.attempts <= then) continue;
      }
      if (changed.length >= this.#o.maxRowsPerEvent) break; // the rest are still changed at the next sample
      const f = facts(c.key);
      // What is known of a process stays known (its details may have been read once, at its first connect).
      const known = f
        ? {
            name: f.name,
            ...(f.user !== undefined ? { user: f.user } : f.uid !== undefined ? { user: String(f.uid) } : {}),
            ...(f.cmdline?.length ? { cmdline: f.cmdline.join(" ") } : {}),
            ...(f.startTime !== undefined ? { startTime: f.startTime } : {}),
            ...(f.unit || f.container ? { where: (f.container || f.unit) as string } : {}),
          }
        : old
          ? { name: old.name, ...(old.user !== undefined ? { user: old.user } : {}), ...(old.cmdline !== undefined ? { cmdline: old.cmdline } : {}), ...(old.startTime !== undefined ? { startTime: old.startTime } : {}), ...(old.where !== undefined ? { where: old.where } : {}) }
          : { name: c.name };
      const next: ProcessRow = {
        key: c.key,
        pid: c.pid,
        ...known,
        halfOpen: now.get(c.key) ?? 0,
        attempts: c.attempts,
        failed: c.failed,
        failureRatio: c.ended > 0 ? c.failed / c.ended : 0,
        ...((verdict(c.key) ?? old?.verdict) !== undefined ? { verdict: (verdict(c.key) ?? old?.verdict) as string } : {}),
        ...(c.via ? { via: c.via } : {}),
        exited: c.exited,
        firstSeen: old?.firstSeen ?? t,
      };
      if (!old || ROW_FIELDS.some((k) => old[k] !== next[k])) {
        this.#rows.set(c.key, next);
        changed.push(next);
      }
    }
    if (this.#rows.size > this.#o.maxRows) {
      // Keep the busiest; among equals, the newest.
      const keep = new Set(
        [...this.#rows.values()]
          .sort((a, b) => b.attempts - a.attempts || b.firstSeen - a.firstSeen)
          .slice(0, this.#o.maxRows)
          .map((r) => r.key),
      );
      for (const [k, r] of this.#rows) {
        if (keep.has(k)) continue;
        this.#rows.delete(k);
        this.#evicted.delete(k);
        this.#evicted.set(k, r.attempts);
      }
      while (this.#evicted.size > this.#o.maxEvicted) this.#evicted.delete(this.#evicted.keys().next().value as string);
    }
    const record: LiveRecord = { type: "live", ...point, limit: this.limit, rows: changed };
    return this.#push(record);
  }

  snapshot(): Snapshot {
    return {
      type: "snapshot",
      id: this.#id,
      limit: this.limit,
      ...(this.#start ? { start: this.#start } : {}),
      points: [...this.#points],
      rows: [...this.#rows.values()],
      incidents: [...this.#incidents.values()],
      verdicts: [...this.#verdicts.values()],
      warnings: [...this.#warnings],
      stopped: this.#stopped,
      scans: [...this.#scans.values()].map(brief),
      ...(this.#scans.size > 0 ? { scan: this.scan([...this.#scans.keys()].pop() as number) } : {}),
    };
  }

  /** Events after `id`, or undefined when some of them are no longer kept, or they hold more than `maxBytes` of JSON (send a snapshot instead). */
  since(id: number, maxBytes = Number.POSITIVE_INFINITY): DashboardEvent[] | undefined {
    if (id > this.#id || id < 0) return undefined;
    if (id === this.#id) return [];
    const first = this.#events[0];
    if (!first || first.id > id + 1) return undefined;
    const missed = this.#events.slice(id + 1 - first.id);
    let bytes = 0;
    for (const e of missed) if ((bytes += e.data.length) > maxBytes) return undefined;
    return missed;
  }

  /** An incident as the watch reported it last (by run incident number or database id). */
  incident(id: number): IncidentRecord | undefined {
    for (const r of this.#incidents.values()) if (r.id === id || r.runIncident === id) return r;
    return undefined;
  }

  incidents(): IncidentRecord[] {
    return [...this.#incidents.values()].reverse();
  }

  row(pid: number): ProcessRow | undefined {
    let found: ProcessRow | undefined;
    for (const r of this.#rows.values()) if (r.pid === pid && (!found || r.firstSeen > found.firstSeen)) found = r;
    return found;
  }
}

function brief(s: ScanView): ScanBrief {
  const { hosts: _hosts, changes, ...rest } = s;
  return { ...rest, progress: { ...s.progress }, ...(changes ? { changeCount: changes.length } : {}) };
}

function dropNextRound(s: ScanView): void {
  delete s.nextAtWall;
  delete s.nextAt;
}
