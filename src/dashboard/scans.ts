/**
 * Scans started from the dashboard: the page's "start" and "stop", run in
 * the watch process through the scanner library (src/scanner), one series at
 * a time (a series is one scan, or rounds every N seconds). Each round is
 * stored in the database like `halfopen scan`'s (when watch has one) and
 * compared with the previous scan of the same targets and ports, stored or
 * from this run; what happens goes to the page as records (model.ts):
 * `scan-start`, `scan-progress` and `scan-hosts` (the hosts found up since
 * the last one; each at most four a second), `scan-end` (summary, changes, when the next round is due) and
 * `scan-stop` (a series stopped between rounds).
 *
 * The scan's own connects count against the machine's half-open limit like
 * any process's (the dashboard shows them as watch's), so the default budget
 * is the watch's limit when that is below the scanner's default of 10.
 *
 * Needs: sockets (the scanner), the database file (optional).
 */
import { hostname } from "node:os";
import { hostView, storedHostJson, storedScanTimes, storedSummaryJson, summaryJson, type HostResult, type HostView, type ScanSpec, type ScanSummary } from "../core/scan/model.js";
import { DEFAULT_PORTS, parsePorts } from "../core/scan/targets.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { isAlive, readIdentity } from "../platform/process-identity.js";
import { planScan } from "../scanner/plan.js";
import { DEFAULT_MAX_HALF_OPEN, type PreparedTargets } from "../scanner/scan.js";
import { runSeries, type RememberedRound, type RoundStart, type ScanSink } from "../scanner/series.js";
import type { IncidentStore } from "../store/incident-store.js";
import type { ScanHistory, StoredScan } from "../store/scan-history.js";
import { VERSION } from "../version.js";
import type { ScanProgress, ScanRecord } from "./model.js";

/** What the page may ask for (POST /api/scans). */
export interface ScanRequest {
  spec: ScanSpec;
  everyMs?: number;
  yes: boolean;
}

const MIN_EVERY_S = 10;
const MAX_TARGETS = 256;

const bad = (message: string) => new HalfOpenError(ErrorCodes.BAD_USAGE, message);

/** Targets as the page sends them: a string of addresses, ranges or names (whitespace or commas), or a list. */
function words(v: unknown, what: string): string[] {
  if (v === undefined || v === null || v === "") return [];
  const list = typeof v === "string" ? v.split(/[\s,]+/) : Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]).flatMap((x) => x.split(/[\s,]+/)) : undefined;
  if (!list) throw bad(`Expected ${what} as a string or a list of strings`);
  const out = list.filter(Boolean);
  if (out.length > MAX_TARGETS) throw bad(`Cannot take more than ${MAX_TARGETS} ${what} entries from the page (use ranges or CIDR blocks, or halfopen scan -iL FILE)`);
  return out;
}

const integer = (v: unknown, what: string, min: number, max: number, fallback: number): number => {
  if (v === undefined || v === null || v === "") return fallback;
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) throw bad(`Cannot use ${what} ${JSON.stringify(v)}: expected a whole number from ${min} to ${max}`);
  return n;
};

/**
 * The body of POST /api/scans, checked: `{ targets, exclude?, ports?, maxHalfOpen?, discovery?: boolean,
 * retries?, everyS?, yes? }`. Pure; throws HalfOpenError (HALFOPEN_BAD_USAGE, or the target parser's
 * HALFOPEN_BAD_TARGET) with a message the page shows as it is.
 */
export function parseScanRequest(body: unknown, defaults: { maxHalfOpen: number; ports?: readonly number[] }): ScanRequest {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw bad('Expected a JSON object: { "targets": "198.18.0.0/24", "ports": "22,80,443", ... }');
  const b = body as Record<string, unknown>;
  const known = new Set(["targets", "exclude", "ports", "maxHalfOpen", "discovery", "retries", "banner", "everyS", "yes"]);
  const unknown = Object.keys(b).filter((k) => !known.has(k));
  if (unknown.length > 0) throw bad(`Unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; expected ${[...known].join(", ")}`);
  const targets = words(b.targets, "targets");
  if (targets.length === 0) throw bad("Cannot scan: no targets (addresses, CIDR blocks, ranges or host names)");
  if (b.ports !== undefined && b.ports !== null && typeof b.ports !== "string") throw bad('Expected ports as a string ("22,80,8000-8100", "-" for all)');
  const portText = typeof b.ports === "string" ? b.ports.trim() : "";
  if (b.discovery !== undefined && typeof b.discovery !== "boolean") throw bad("Expected discovery as true (find live hosts first) or false (-Pn: every address is up)");
  if (b.yes !== undefined && typeof b.yes !== "boolean") throw bad("Expected yes as true or false");
  if (b.banner !== undefined && typeof b.banner !== "boolean") throw bad("Expected banner as true (read what open ports say first, for up to a second) or false");
  const everyS = b.everyS === undefined || b.everyS === null || b.everyS === "" || b.everyS === 0 ? undefined : integer(b.everyS, "everyS", MIN_EVERY_S, 7 * 86400, 0);
  return {
    spec: {
      targets,
      exclude: words(b.exclude, "exclude"),
      ports: portText === "" ? [...(defaults.ports ?? DEFAULT_PORTS)] : parsePorts(portText),
      discovery: b.discovery === false ? "none" : "auto",
      maxHalfOpen: integer(b.maxHalfOpen, "maxHalfOpen", 1, 4096, defaults.maxHalfOpen),
      retries: integer(b.retries, "retries", 0, 10, 1),
      ...(b.banner === true ? { bannerMs: 1000 } : {}),
    },
    ...(everyS === undefined ? {} : { everyMs: everyS * 1000 }),
    yes: b.yes === true,
  };
}

export interface DashboardScansOptions {
  /** Records for the model and the page. */
  emit: (record: ScanRecord) => void;
  /** The database to store scans in and compare with, if any. */
  db: () => string | undefined;
  /** The watch's limit: the default budget is at most this. */
  limit: number;
  /** Progress records at most this often. Default 250 ms. */
  progressMs?: number;
  /** Warnings for the watch's output (a database that cannot be used). */
  warn?: (message: string) => void;
  /** The ports a scan checks when the page names none. Default nmap's top 20 (DEFAULT_PORTS). */
  defaultPorts?: readonly number[];
}

interface Series {
  id: number;
  controller: AbortController;
  done: Promise<void>;
}


export class DashboardScans {
  readonly #o: DashboardScansOptions;
  #ids = 0;
  #seriesIds = 0;
  #series?: Series;
  /** This run's last finished round per spec key, for changes when nothing is stored. */
  readonly #last = new Map<string, RememberedRound>();
  #warnedDb = false;

  constructor(options: DashboardScansOptions) {
    this.#o = options;
  }

  get defaultPorts(): readonly number[] {
    return this.#o.defaultPorts ?? DEFAULT_PORTS;
  }

  get defaultMaxHalfOpen(): number {
    return Math.max(1, Math.min(DEFAULT_MAX_HALF_OPEN, this.#o.limit));
  }

  /** Whether rounds are stored (watch has a database). */
  get storing(): boolean {
    return this.#o.db() !== undefined;
  }

  get running(): boolean {
    return this.#series !== undefined;
  }

  /** Starts a series after checking the request and resolving its targets; resolves with the first round's id. */
  async start(body: unknown): Promise<{ id: number; series: number; total: number }> {
    const busy = () => new HalfOpenError(ErrorCodes.REFUSED, "A scan is running; stop it first (one scan at a time shares one half-open budget)");
    if (this.#series) throw busy();
    const request = parseScanRequest(body, { maxHalfOpen: this.defaultMaxHalfOpen, ports: this.defaultPorts });
    const { prepared, total } = await planScan(request.spec, { yes: request.yes });
    if (this.#series) throw busy(); // another start won the race while the names resolved
    const series: Series = { id: ++this.#seriesIds, controller: new AbortController(), done: Promise.resolve() };
    this.#series = series;
    const first = this.#ids + 1;
    series.done = this.#run(series, request, prepared)
      .catch((e: unknown) => this.#o.warn?.(`the page's scan failed: ${(e as Error).message}`))
      .finally(() => {
        if (this.#series === series) this.#series = undefined;
      });
    return { id: first, series: series.id, total };
  }

  /** Stops the running round, or the wait for the next one. */
  stop(): { stopped: boolean; series?: number } {
    const s = this.#series;
    if (!s) return { stopped: false };
    s.controller.abort();
    return { stopped: true, series: s.id };
  }

  /** Stops whatever runs and waits for it to end (its round is stored as interrupted). */
  async close(): Promise<void> {
    const s = this.#series;
    this.stop();
    await s?.done;
  }

  /** Stored scans, newest first (any program's: `halfopen scan` too). */
  stored(limit = 20): StoredScanView[] {
    return this.#withStore((h) => h.list({ limit }).map(storedView)) ?? [];
  }

  storedScan(id: number): (StoredScanView & { hosts: (HostResult & { startedAtWall: number; endedAtWall: number })[] }) | undefined {
    return this.#withStore((h) => {
      const s = h.get(id);
      return s ? { ...storedView(s), hosts: h.hosts(id).map(storedHostJson) } : undefined;
    });
  }

  #withStore<T>(fn: (h: ScanHistory, store: IncidentStore) => T): T | undefined {
    const store = this.#openStore();
    if (!store) return undefined;
    try {
      return fn(store.scans(), store);
    } finally {
      store.close();
    }
  }

  #storeModule?: typeof import("../store/incident-store.js");

  #openStore(): IncidentStore | undefined {
    const path = this.#o.db();
    if (!path || !this.#storeModule) return undefined;
    try {
      return this.#storeModule.IncidentStore.open({ path, isRunAlive: isAlive });
    } catch (e) {
      if (!this.#warnedDb) this.#o.warn?.(`${(e as Error).message}; the dashboard's scans are not stored`);
      this.#warnedDb = true;
      return undefined;
    }
  }

  /** Loads the store module (better-sqlite3) once, before the first scan. */
  async prepare(): Promise<void> {
    this.#storeModule ??= await import("../store/incident-store.js");
  }

  async #run(series: Series, request: ScanRequest, prepared: PreparedTargets): Promise<void> {
    await this.prepare();
    await runSeries({
      spec: request.spec,
      prepared,
      signal: series.controller.signal,
      ...(request.everyMs === undefined ? {} : { everyMs: request.everyMs }),
      openHistory: () => {
        const store = this.#openStore();
        return store ? { history: store.scans(), close: () => store.close() } : undefined;
      },
      run: this.#runInfo(),
      memory: this.#last,
      roundRef: () => ++this.#ids,
      warn: (message) => this.#o.warn?.(message),
      onError: "report",
      sinks: [this.#sink(series, request)],
    });
  }

  #runInfo() {
    const self = readIdentity(process.pid);
    return { pid: process.pid, ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }), hostname: hostname(), version: VERSION };
  }

  /** The page's records for a series: scan-start, scan-hosts and scan-progress (each at most every progressMs), scan-end, scan-stop. */
  #sink(series: Series, request: ScanRequest): ScanSink {
    const { spec } = request;
    let tick: NodeJS.Timeout | undefined;
    let found: HostView[] = [];
    let startedAt = 0;
    let current: RoundStart | undefined;
    const progress = (s: ScanSummary): ScanProgress => {
      const elapsed = Math.max(1, Date.now() - startedAt);
      const ratePerS = (s.done * 1000) / elapsed;
      return { done: s.done, total: s.total, up: s.up, open: s.open, unknown: s.unknown, ratePerS: Math.round(ratePerS * 10) / 10, ...(s.done > 0 && s.done < s.total ? { etaMs: Math.round(((s.total - s.done) / s.done) * elapsed) } : {}) };
    };
    // Hosts go to the page in batches, with the progress: a /16 of live hosts is a few events a second, not thousands.
    const sendHosts = () => {
      if (found.length === 0 || !current) return;
      this.#o.emit({ type: "scan-hosts", id: current.ref, hosts: found });
      found = [];
    };
    const finish = () => {
      if (this.#series === series) this.#series = undefined;
    };
    return {
      roundStart: (r) => {
        current = r;
        startedAt = r.startedAt;
        this.#o.emit({
          type: "scan-start",
          id: r.ref,
          series: series.id,
          round: r.round,
          startedAtWall: startedAt,
          startedAt,
          total: r.total,
          spec: { targets: spec.targets, exclude: spec.exclude, ports: spec.ports, maxHalfOpen: spec.maxHalfOpen, discovery: spec.discovery, ...(request.everyMs === undefined ? {} : { everyMs: request.everyMs }) },
          ...(r.scanId === undefined ? {} : { scanId: r.scanId }),
        });
        let lastDone = -1;
        tick = setInterval(() => {
          sendHosts();
          const s = r.scan.summary();
          if (s.done === lastDone) return;
          lastDone = s.done;
          this.#o.emit({ type: "scan-progress", id: r.ref, progress: progress(s) });
        }, this.#o.progressMs ?? 250);
      },
      host: (h) => {
        if (h.status === "up") found.push(hostView(h));
      },
      roundEnd: (r) => {
        clearInterval(tick);
        sendHosts();
        // Not running any more when the page hears the last round's end.
        if (r.nextAt === undefined) finish();
        const endedAt = Date.now();
        this.#o.emit({
          type: "scan-end",
          id: r.ref,
          state: r.error !== undefined ? "failed" : r.complete ? "done" : "interrupted",
          endedAtWall: endedAt,
          endedAt,
          progress: progress(r.summary),
          summary: summaryJson(r.summary, spec.maxHalfOpen, spec.ports.length),
          changes: r.changes,
          ...(r.previous ? { previous: { ...(r.previous.ref === undefined ? {} : { id: r.previous.ref }), ...(r.previous.scanId === undefined ? {} : { scanId: r.previous.scanId }) } } : {}),
          ...(r.scanId === undefined ? {} : { scanId: r.scanId }),
          ...(r.error === undefined ? {} : { error: r.error }),
          ...(r.nextAt === undefined ? {} : { nextAtWall: r.nextAt, nextAt: r.nextAt }),
        });
      },
      stopped: () => {
        finish();
        const at = Date.now();
        this.#o.emit({ type: "scan-stop", series: series.id, atWall: at, at });
      },
    };
  }
}

/** A stored scan as the API gives it: `startedAtWall`/`endedAtWall` (and the old numeric names, one release). */
const storedView = (s: StoredScan): StoredScanView => ({ ...s, ...storedScanTimes(s), ...(s.summary ? { summary: storedSummaryJson(s.summary) } : {}) });

export type StoredScanView = StoredScan & { startedAtWall: number; endedAtWall?: number };
