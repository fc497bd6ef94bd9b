/**
 * Fleet monitoring for `halfopen watch --metrics-port N`: prom-client
 * metrics served on `/metrics`, in OpenMetrics when the scraper asks for it
 * (Prometheus does) and in the Prometheus text format otherwise (curl,
 * promtool). Values are read from the monitor at scrape time, so a scrape
 * costs nothing between scrapes.
 *
 * Label cardinality is bounded: per-name gauges carry the `topNames` largest
 * process names and one `other`; names are chosen by the processes (malware
 * included), so control characters are removed and length is capped.
 *
 * Needs: a TCP listening socket (node:http). Binds 127.0.0.1 unless told.
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { OUTCOMES, emptyOutcomeCounts } from "../core/attempt.js";
import { UNSAFE_TEXT } from "../core/process-text.js";
import type { EnforceCounters } from "../core/enforce/types.js";
import type { ProcessInfo } from "../core/events.js";
import type { HalfOpenMonitor } from "../core/monitor.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";

export interface WatchMetricsOptions {
  monitor: HalfOpenMonitor;
  source: string;
  /** "exact" (tracefs) or "polling". */
  mode: "exact" | "polling";
  /** Process names exported one by one; the rest are summed as "other". Default 20. */
  topNames?: number;
  /** Unstored incidents and store failures, when the store is on. */
  store?: () => { failures: number; unstored: number };
  /** Verdicts reached so far (the scan detector's counts), when it runs. */
  verdicts?: () => { scanner: number; benign: number; trustedScanner: number };
  /** Default process metrics (CPU, memory, event loop). Default true. */
  processMetrics?: boolean;
  /** `--enforce`: the enforcer's counters, its limit, and the waits since the last scrape (ms). */
  enforce?: { limit: number; counters: () => EnforceCounters; takeWaits: () => number[] };
}

/** A process name (or unit, container) as a label value: no control characters or bidirectional overrides, at most `max` characters, never empty. */
export function labelValue(name: string, max = 64): string {
  const clean = name.replace(UNSAFE_TEXT, "").slice(0, max);
  return clean === "" ? "?" : clean;
}

const LINT_FAILING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** The registries (OpenMetrics and Prometheus text) holding halfopen's metrics. */
export class WatchMetrics {
  readonly openMetrics = new Registry<"application/openmetrics-text; version=1.0.0; charset=utf-8">();
  readonly text = new Registry();

  constructor(options: WatchMetricsOptions) {
    this.openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    // One set of metric objects per registry: prom-client renames a counter
    // in place when it renders OpenMetrics, so the two cannot share them.
    const registries = [this.openMetrics, this.text] as Registry[];
    // Each registry is scraped on its own: each gets every wait the enforcer hands over.
    const waits = options.enforce ? fanOut(options.enforce.takeWaits, registries.length) : [];
    registries.forEach((registry, i) => define(registry, options.enforce ? { ...options, enforce: { ...options.enforce, takeWaits: waits[i] as () => number[] } } : options));
  }

  /** The exposition for an HTTP Accept header: OpenMetrics when asked for, else the Prometheus text format. */
  async render(accept = ""): Promise<{ contentType: string; body: string }> {
    const registry = /application\/openmetrics-text/i.test(accept) ? this.openMetrics : this.text;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}

/** Counters are advanced by the difference since the previous scrape. */
function advance(c: Counter, now: number, before: number, labels?: Record<string, string>): void {
  if (now <= before) return;
  if (labels) c.inc(labels, now - before);
  else c.inc(now - before);
}

/**
 * A counter with one label whose series follow running totals read at scrape
 * time (`read()` gives each label value's total); every series exists from
 * the first scrape (a rate over a series that appears later misses its first step).
 */
function labelledTotal(registers: Registry[], name: string, help: string, label: string, read: () => Record<string, number>, values: readonly string[]): void {
  const seen: Record<string, number> = Object.fromEntries(values.map((v) => [v, 0]));
  const counter = new Counter({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      const now = read();
      for (const v of values) {
        advance(this, now[v] ?? 0, seen[v] ?? 0, { [label]: v });
        seen[v] = Math.max(seen[v] ?? 0, now[v] ?? 0);
      }
    },
  });
  for (const v of values) counter.inc({ [label]: v }, 0);
}

/** A counter in `registers` that follows a running total read at scrape time. */
function total(registers: Registry[], name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      advance(this, now, seen);
      seen = Math.max(seen, now);
    },
  });
}

/** Registers halfopen's metrics in one registry; each reads the monitor when scraped. */
function define(registry: Registry, options: WatchMetricsOptions): void {
  const registers = [registry];
  const { monitor } = options;
  const top = options.topNames ?? 20;
  const lastEnded = { ...emptyOutcomeCounts() };
  const counters = () => monitor.counters();

  new Gauge({
    name: "halfopen_half_open",
    help: "Outbound TCP connect attempts half-open (SYN_SENT) now, host-wide, after --pid/--comm filters",
    registers,
    collect() {
      this.set(counters().halfOpen);
    },
  });
  new Gauge({ name: "halfopen_half_open_limit", help: "The half-open limit watch compares against (--limit)", registers }).set(monitor.limit);
  new Gauge({
    name: "halfopen_process_half_open",
    help: `Half-open attempts now per process name: the ${top} largest names, the rest summed as name="other"`,
    labelNames: ["name"],
    registers,
    collect() {
      this.reset();
      for (const row of monitor.halfOpenByName(top)) this.set({ name: row.other ? "other" : labelValue(row.name) }, row.halfOpen);
    },
  });
  const grouped = (name: string, help: string, labelName: string, label: (p: ProcessInfo) => string | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: [labelName],
      registers,
      collect() {
        this.reset();
        // Units are longer than process names (a container's scope is 77 characters): 128 keeps them whole.
        for (const row of monitor.halfOpenBy(top, label)) this.set({ [labelName]: row.other ? "other" : labelValue(row.name, 128) }, row.halfOpen);
      },
    });
  grouped("halfopen_unit_half_open", `Half-open attempts now per systemd unit: the ${top} largest, the rest summed as unit="other"`, "unit", (p) => p.unit);
  grouped("halfopen_container_half_open", `Half-open attempts now per container (runtime:short id, or pod:UID): the ${top} largest, the rest as container="other"`, "container", (p) =>
    p.container ? `${p.container.runtime}:${p.container.shortId}` : p.pod ? `pod:${p.pod.uid}` : undefined,
  );
  total(registers, "halfopen_connect_attempts_total", "Outbound TCP connect attempts seen", () => counters().attempts);
  const outcomes = OUTCOMES.filter((o) => o !== "pending");
  const outcomeCounter = new Counter({
    name: "halfopen_connect_outcomes_total",
    help: "Connect attempts that ended, by outcome: established, refused, timeout, aborted (closed by the process), unknown (end not seen)",
    labelNames: ["outcome"],
    registers,
    collect() {
      const now = counters().ended;
      for (const o of outcomes) {
        advance(this, now[o], lastEnded[o], { outcome: o });
        lastEnded[o] = now[o];
      }
    },
  });
  // Every outcome series exists from the first scrape (a rate over a series that appears later misses its first step).
  for (const o of outcomes) outcomeCounter.inc({ outcome: o }, 0);
  labelledTotal(
    registers,
    "halfopen_raw_syns_total",
    'TCP SYNs sent without connect(), seen on the wire: via="raw" (raw IP socket: nmap -sS on loopback, hping3, Mirai-style scanners) or "packet" (packet socket: masscan, zmap, nmap on Ethernet)',
    "via",
    () => counters().rawSyns,
    ["raw", "packet"],
  );
  total(registers, "halfopen_incidents_total", "Incidents: episodes of the host's half-open count above the limit", () => counters().incidents);
  new Gauge({
    name: "halfopen_incident_open",
    help: "1 while an incident is open",
    registers,
    collect() {
      this.set(counters().incidentOpen ? 1 : 0);
    },
  });
  total(registers, "halfopen_events_lost_total", "Events the source dropped (tracefs ring buffer overflow); counts are lower bounds when this rises", () => counters().lostEvents);
  total(registers, "halfopen_os_limit_events_total", "The OS's own half-open limit events seen (Windows Event 4226)", () => counters().osLimitEvents);
  new Gauge({
    name: "halfopen_source_info",
    help: "The connection source watch reads (value 1); mode exact (every attempt) or polling (may miss short ones)",
    labelNames: ["source", "mode"],
    registers,
  }).set({ source: options.source, mode: options.mode }, 1);
  if (options.verdicts) defineVerdicts(registers, options.verdicts);
  if (options.enforce) defineEnforce(registers, options.enforce);
  if (options.store) defineStore(registers, options.store);
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total: promtool's linter rejects them, and they say little about halfopen.
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }
}

/** halfopen_verdicts_total: the scan detector's verdicts, by kind. */
function defineVerdicts(registers: Registry[], read: NonNullable<WatchMetricsOptions["verdicts"]>): void {
  labelledTotal(
    registers,
    "halfopen_verdicts_total",
    'Processes judged by the scan detector: verdict="scanner" (an alert), "trusted_scanner" (scanner-like but --trust, no alert), "benign"',
    "verdict",
    () => {
      const v = read();
      return { scanner: v.scanner, benign: v.benign, trusted_scanner: v.trustedScanner };
    },
    ["scanner", "benign", "trusted_scanner"],
  );
}

/** `--enforce`: what was held, how long, and what could not be. */
function defineEnforce(registers: Registry[], e: NonNullable<WatchMetricsOptions["enforce"]>): void {
  new Gauge({ name: "halfopen_enforce_limit", help: "Connect attempts allowed in flight per scope (--enforce)", registers }).set(e.limit);
  total(registers, "halfopen_enforce_syns_total", "First SYNs of new outbound connections that came through the enforcement queue", () => e.counters().syns);
  total(registers, "halfopen_enforce_held_total", "Connect attempts whose first SYN was held because their scope had its limit in flight", () => e.counters().held);
  total(registers, "halfopen_enforce_abandoned_total", "Held attempts the program gave up on before their turn (their SYN never left)", () => e.counters().abandoned);
  total(registers, "halfopen_enforce_hold_episodes_total", "Times a scope started holding (its queue went from empty to non-empty): what Windows XP logged as Event 4226", () => e.counters().holdEpisodes);
  labelledTotal(
    registers,
    "halfopen_enforce_unheld_total",
    'Attempts that went out without being held: reason="queue_full" (the queue was full or bypassed: fail-open) or "packet_socket" (sent through a packet socket, which no netfilter hook sees)',
    "reason",
    () => ({ queue_full: e.counters().unqueued, packet_socket: e.counters().unholdable }),
    ["queue_full", "packet_socket"],
  );
  for (const [name, help, read] of [
    ["halfopen_enforce_holding", "Connect attempts held now", () => e.counters().holding],
    ["halfopen_enforce_in_flight", "Released connect attempts not yet ended, all scopes", () => e.counters().inFlight],
  ] as const) {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  }
  new Histogram({
    name: "halfopen_enforce_wait_seconds",
    help: "How long held connect attempts waited before their SYN went (or before the program gave up)",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120],
    registers,
    collect() {
      for (const ms of e.takeWaits()) this.observe(ms / 1000);
    },
  });
}

/** `n` readers of one stream of waits, each getting every wait once (at most 100,000 kept for a reader that never reads). */
function fanOut(take: () => number[], n: number): (() => number[])[] {
  const lists: number[][] = Array.from({ length: n }, () => []);
  return lists.map((mine) => () => {
    const fresh = take();
    for (const list of lists) list.push(...fresh.slice(0, Math.max(0, 100_000 - list.length)));
    return mine.splice(0);
  });
}

/** The store's failures and what it holds in memory. */
function defineStore(registers: Registry[], store: NonNullable<WatchMetricsOptions["store"]>): void {
  total(registers, "halfopen_store_failures_total", "Writes to the incident database that failed (disk full, read-only, ...); the incidents are kept in memory and retried", () => store().failures);
  new Gauge({
    name: "halfopen_incidents_unstored",
    help: "Incidents held in memory because the database could not take them",
    registers,
    collect() {
      this.set(store().unstored);
    },
  });
}

/** Bounds on the metrics server's clients: a flood of idle connections must not use up watch's file descriptors. */
export interface ServerBounds {
  /** Connections at once; more are closed as they arrive. Default 64. */
  maxConnections: number;
  /** A connection idle this long is closed. Default 10000 ms. */
  idleMs: number;
  /** A request must arrive whole within this. Default 10000 ms. */
  requestMs: number;
}

export const DEFAULT_SERVER_BOUNDS: ServerBounds = { maxConnections: 64, idleMs: 10_000, requestMs: 10_000 };

/** Apply `bounds` to an HTTP server (also used by every other server watch runs). */
export function boundServer(server: Server, bounds: Partial<ServerBounds> = {}): void {
  const b = { ...DEFAULT_SERVER_BOUNDS, ...bounds };
  server.maxConnections = b.maxConnections;
  server.headersTimeout = b.requestMs;
  server.requestTimeout = b.requestMs;
  server.keepAliveTimeout = Math.min(5000, b.idleMs);
  // A socket with no traffic for idleMs is destroyed (no 'timeout' listener: Node closes it).
  server.setTimeout(b.idleMs);
}

/** Serve `/metrics` on host:port. Resolves once listening; the error names the address when it cannot bind. */
export async function serveMetrics(metrics: WatchMetrics, host: string, port: number, bounds: Partial<ServerBounds> = {}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path !== "/metrics") {
      res.writeHead(path === "/" ? 200 : 404, { "content-type": "text/plain; charset=utf-8" }).end(path === "/" ? "halfopen: metrics are at /metrics\n" : "not found\n");
      return;
    }
    metrics.render(req.headers.accept).then(
      ({ contentType, body }) => {
        res.writeHead(200, { "content-type": contentType }).end(req.method === "HEAD" ? undefined : body);
      },
      (e: unknown) => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${(e as Error).message}\n`);
      },
    );
  });
  boundServer(server, bounds);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      reject(new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot serve metrics on ${host}:${port}: ${e.code === "EADDRINUSE" ? "the port is in use" : e.code === "EACCES" ? "no permission to bind it" : e.message}`));
    });
    server.listen(port, host, () => resolve());
  });
  return server;
}
