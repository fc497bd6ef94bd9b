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
import { setTimeout as delay } from "node:timers/promises";
import { diffScans, type ScanChange } from "../core/scan/diff.js";
import { specKey, type ScanSpec } from "../core/scan/journal.js";
import type { XmlHost } from "../core/scan/nmap-xml.js";
import { DEFAULT_PORTS, parsePorts } from "../core/scan/targets.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { isAlive, readIdentity } from "../platform/process-identity.js";
import { checkScanSize, DEFAULT_MAX_HALF_OPEN, resolveTargets, scan, type HostResult, type PreparedTargets, type ScanSummary } from "../scanner/scan.js";
import type { IncidentStore } from "../store/incident-store.js";
import { HostBatches, type ScanHistory, type StoredScan } from "../store/scan-history.js";
import { VERSION } from "../version.js";
import type { ScanHostView, ScanProgress } from "./model.js";

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
  emit: (record: { type: string } & Record<string, unknown>) => void;
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

const hostView = (h: HostResult): ScanHostView => ({
  address: h.address,
  ...(h.names ? { names: h.names } : {}),
  status: h.status,
  reason: h.reason,
  ports: h.ports.map((p) => ({ port: p.port, state: p.state, reason: p.reason, ...(p.rttMs === undefined ? {} : { rttMs: p.rttMs }), ...(p.banner === undefined ? {} : { banner: p.banner }) })),
});

export class DashboardScans {
  readonly #o: DashboardScansOptions;
  #ids = 0;
  #seriesIds = 0;
  #series?: Series;
  /** This run's last finished round per spec key, for changes when nothing is stored. */
  readonly #last = new Map<string, { id: number; scanId?: number; hosts: XmlHost[]; ports: number[]; complete: boolean }>();
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
    const prepared = await resolveTargets(request.spec);
    const total = checkScanSize(prepared, undefined, request.yes);
    if (this.#series) throw busy(); // another start won the race while the names resolved
    const series: Series = { id: ++this.#seriesIds, controller: new AbortController(), done: Promise.resolve() };
    this.#series = series;
    const first = this.#ids + 1;
    series.done = this.#run(series, request, prepared, total)
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
  stored(limit = 20): StoredScan[] {
    return this.#withStore((h) => h.list({ limit })) ?? [];
  }

  storedScan(id: number): (StoredScan & { hosts: XmlHost[] }) | undefined {
    return this.#withStore((h) => {
      const s = h.get(id);
      return s ? { ...s, hosts: h.hosts(id) } : undefined;
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

  async #run(series: Series, request: ScanRequest, prepared: PreparedTargets, total: number): Promise<void> {
    await this.prepare();
    const signal = series.controller.signal;
    const finish = () => {
      if (this.#series === series) this.#series = undefined;
    };
    for (let round = 1; ; round++) {
      const started = Date.now();
      const end = await this.#round(series, request, prepared, total, round);
      if (request.everyMs === undefined || signal.aborted) {
        // Not running any more when the page hears the end.
        finish();
        this.#o.emit(end);
        return;
      }
      const nextAt = started + request.everyMs;
      this.#o.emit({ ...end, nextAt });
      await delay(Math.max(0, nextAt - Date.now()), undefined, { signal }).catch(() => undefined); // Stop ends the wait
      if (signal.aborted) {
        finish();
        this.#o.emit({ type: "scan-stop", series: series.id, at: Date.now() });
        return;
      }
    }
  }

  /** One round; resolves with its scan-end record (the caller sends it). */
  async #round(series: Series, request: ScanRequest, prepared: PreparedTargets, total: number, round: number): Promise<{ type: string } & Record<string, unknown>> {
    const { spec } = request;
    const id = ++this.#ids;
    const signal = series.controller.signal;
    const startedAt = Date.now();
    const store = this.#openStore();
    let history: ScanHistory | undefined;
    let scanId: number | undefined;
    const storeFailed = (e: unknown) => {
      this.#o.warn?.(`${(e as Error).message}; scan ${id} is not stored`);
      history = undefined;
    };
    try {
      history = store?.scans();
      const self = readIdentity(process.pid);
      scanId = history?.begin({ startedAt, pid: process.pid, ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }), hostname: hostname(), version: VERSION, spec });
    } catch (e) {
      storeFailed(e);
    }
    this.#o.emit({
      type: "scan-start",
      id,
      series: series.id,
      round,
      startedAt,
      total,
      spec: { targets: spec.targets, exclude: spec.exclude, ports: spec.ports, maxHalfOpen: spec.maxHalfOpen, discovery: spec.discovery, ...(request.everyMs === undefined ? {} : { everyMs: request.everyMs }) },
      ...(scanId === undefined ? {} : { scanId }),
    });
    const run = scan({ targets: spec.targets, exclude: spec.exclude, ports: spec.ports, maxHalfOpen: spec.maxHalfOpen, discovery: spec.discovery, retries: spec.retries, allowLarge: true, signal, prepared, ...(spec.bannerMs === undefined ? {} : { bannerMs: spec.bannerMs }) });
    const progress = (s: ScanSummary): ScanProgress => {
      const elapsed = Math.max(1, Date.now() - startedAt);
      const ratePerS = (s.done * 1000) / elapsed;
      return { done: s.done, total: s.total, up: s.up, open: s.open, unknown: s.unknown, ratePerS: Math.round(ratePerS * 10) / 10, ...(s.done > 0 && s.done < s.total ? { etaMs: Math.round(((s.total - s.done) / s.done) * elapsed) } : {}) };
    };
    let lastDone = -1;
    // Hosts go to the page in batches, with the progress: a /16 of live hosts is a few events a second, not thousands.
    let found: ScanHostView[] = [];
    const sendHosts = () => {
      if (found.length === 0) return;
      this.#o.emit({ type: "scan-hosts", id, hosts: found });
      found = [];
    };
    const tick = setInterval(() => {
      sendHosts();
      const s = run.summary();
      if (s.done === lastDone) return;
      lastDone = s.done;
      this.#o.emit({ type: "scan-progress", id, progress: progress(s) });
    }, this.#o.progressMs ?? 250);
    const hosts: HostResult[] = [];
    const batches = new HostBatches(history, scanId, storeFailed);
    let error: string | undefined;
    try {
      for await (const host of run) {
        if (host.status !== "up") continue;
        hosts.push(host);
        batches.add(host);
        found.push(hostView(host));
      }
    } catch (e) {
      error = (e as Error).message;
    } finally {
      clearInterval(tick);
      sendHosts();
      batches.flush();
    }
    const summary = run.summary();
    const complete = !summary.aborted && error === undefined;
    let changes: ScanChange[] = [];
    let previous: { id?: number; scanId?: number } | undefined;
    try {
      if (history && scanId !== undefined) {
        history.end(scanId, complete ? "done" : "interrupted", Date.now(), { ...summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length, round });
        const before = history.previous(spec, scanId);
        if (before) {
          const mine = [...this.#last.values()].find((l) => l.scanId === before.id);
          previous = { scanId: before.id, ...(mine ? { id: mine.id } : {}) };
          changes = diffScans({ hosts: history.hosts(before.id), ports: before.spec.ports, complete: before.state === "done" }, { hosts, ports: spec.ports, complete });
        }
      }
    } catch (e) {
      storeFailed(e);
    } finally {
      store?.close();
    }
    const key = specKey(spec);
    const last = this.#last.get(key);
    if (!previous && last) {
      previous = { id: last.id };
      changes = diffScans(last, { hosts, ports: spec.ports, complete });
    }
    this.#last.delete(key);
    this.#last.set(key, { id, hosts, ports: spec.ports, complete, ...(scanId === undefined ? {} : { scanId }) });
    while (this.#last.size > 20) this.#last.delete(this.#last.keys().next().value as string);
    return {
      type: "scan-end",
      id,
      state: error !== undefined ? "failed" : complete ? "done" : "interrupted",
      endedAt: Date.now(),
      progress: progress(summary),
      summary: { ...summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length },
      changes,
      ...(previous ? { previous } : {}),
      ...(scanId === undefined ? {} : { scanId }),
      ...(error === undefined ? {} : { error }),
    };
  }
}

