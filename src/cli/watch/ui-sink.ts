/**
 * The dashboard sink of `halfopen watch --ui`: a local web page beside the
 * monitor (src/dashboard/). It keeps the process details it sees in connect
 * events (bounded), samples the monitor four times a second into the model, hands
 * every `--json` record to it, and serves the page on loopback with a token
 * per run. The URL with the token (after #, never sent to a server) is
 * printed on standard error only: the `start` record (`--json`, the log
 * file) carries the URL without it.
 *
 * The page's "end" action ends only a process this watch saw connect, named
 * as it saw it (pid, name and start time), and only if it is still that
 * process (the same checks as `halfopen kill`). `readOnly` (the default for
 * `--ui-allow-remote`) takes kill and scans away. The server is under the
 * same connection bounds as the metrics server (boundServer).
 *
 * With `--replay FILE --ui` the page stays up after the replay ends, until
 * Ctrl-C, so a recorded incident can be explored.
 *
 * Needs: a listening TCP socket (loaded only with --ui); process signals for
 * the page's "end" action (the same checks as `halfopen kill`).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import type { ConnectionEvent, ProcessInfo } from "../../core/events.js";
import { processKeyOf } from "../../core/attempt.js";
import type { HalfOpenMonitor } from "../../core/monitor.js";
import type { ScanVerdictDetector } from "../../core/scan-detector.js";
import { DashboardModel, type DashboardEvent, type ProcessFacts } from "../../dashboard/model.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { IncidentStore as IncidentStoreType } from "../../store/incident-store.js";
import { jsonRecords } from "./records.js";
import type { Sink, StartFacts, WatchItem } from "./sink.js";

export interface UiSinkOptions {
  host: string;
  port: number;
  /** No kill, no scans. */
  readOnly?: boolean;
  /** Serve over TLS with this key and certificate (PEM files). */
  tlsFiles?: { key: string; cert: string };
  /** Where the URL with the token is said (default: standard error). */
  say?: (line: string) => void;
  /** The page may start scans. Default true. */
  scans?: boolean;
  monitor: HalfOpenMonitor;
  verdicts: ScanVerdictDetector;
  wallOffsetMs: number;
  replay: boolean;
  /** The incident database to list from (the store sink's), when storing. */
  db: () => string | undefined;
  publish: (item: WatchItem) => void;
  /** Samples per second. Default 4. */
  rate?: number;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);
const MAX_FACTS = 20_000;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class UiSink implements Sink {
  readonly name = "ui";
  readonly model: DashboardModel;
  readonly token = randomBytes(18).toString("base64url");
  readonly #o: UiSinkOptions;
  readonly #facts = new Map<string, ProcessFacts>();
  readonly #exited = new Set<number>();
  readonly #listeners = new Set<(e: DashboardEvent) => void>();
  #scans?: import("../../dashboard/scans.js").DashboardScans;
  #app?: Awaited<ReturnType<typeof import("../../dashboard/server.js").createDashboardServer>>;
  #lastSample = Number.NEGATIVE_INFINITY;
  #interrupted = false;
  readonly #onSignal = () => {
    this.#interrupted = true;
    this.#wake?.();
  };
  #wake?: () => void;
  /** The URL with the token (said on stderr only), and without it. */
  url?: string;
  base?: string;

  constructor(options: UiSinkOptions) {
    this.#o = options;
    this.model = new DashboardModel({ limit: options.monitor.limit });
  }

  async open(): Promise<StartFacts> {
    const { createDashboardServer, loopbackHosts } = await import("../../dashboard/server.js");
    const { boundServer } = await import("../../metrics/watch-metrics.js");
    const { IncidentStore } = await import("../../store/incident-store.js");
    const { formatIncidentCsv } = await import("../incidents/format.js");
    const { incidentJson } = await import("../incidents/run.js");
    const { DashboardScans } = await import("../../dashboard/scans.js");
    const o = this.#o;
    if (o.scans !== false && !o.readOnly) {
      this.#scans = new DashboardScans({
        emit: (r) => this.#emit(this.model.record(r)),
        db: o.db,
        limit: o.monitor.limit,
        warn: (message) => o.publish({ kind: "warning", level: "warning", message }),
      });
      await this.#scans.prepare();
    }
    const tls = o.tlsFiles ? { key: readPem(o.tlsFiles.key, "--ui-tls-key"), cert: readPem(o.tlsFiles.cert, "--ui-tls-cert") } : undefined;
    let port = 0;
    const extra = o.host === "localhost" ? [] : WILDCARD.has(o.host) ? localNames() : [bracket(o.host)];
    const readStore = <T>(fn: (s: IncidentStoreType) => T): T | undefined => {
      const path = o.db();
      if (!path) return undefined;
      const store = IncidentStore.open({ path, readonly: true });
      try {
        return fn(store);
      } finally {
        store.close();
      }
    };
    this.#app = await createDashboardServer({
      model: this.model,
      token: this.token,
      hosts: () => loopbackHosts(port, extra),
      subscribe: (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      },
      incidents: {
        list: (filter) =>
          readStore((s) => s.list({ ...filter, ...(filter.limit ? { limit: filter.limit } : {}) }).map(incidentJson) as Record<string, unknown>[]) ??
          this.model.incidents().filter((i) => (filter.since === undefined || Number(i.startedAtWall) >= filter.since) && (filter.until === undefined || Number(i.startedAtWall) <= filter.until)),
        get: (id) => {
          const stored = readStore((s) => s.get(id));
          return stored ? (incidentJson(stored) as Record<string, unknown>) : this.model.incident(id);
        },
        csv: (list) =>
          formatIncidentCsv(
            list.map((r) => ({ id: Number(r.id), runId: Number(r.runId ?? 0), runIncident: Number(r.runIncident ?? r.id), state: (r.state === "open" || r.type === "incident-open" ? "open" : r.state === "interrupted" ? "interrupted" : "closed") as "open" | "closed" | "interrupted", hostname: String(r.hostname ?? ""), source: String(r.source ?? ""), report: r as never })),
          ),
      },
      ...(o.replay ? {} : { actions: { kill: (r) => this.#kill(r) } }),
      ...(this.#scans ? { scans: this.#scans } : {}),
      ...(o.readOnly ? { readOnly: true } : {}),
      ...(tls ? { https: tls } : {}),
    });
    // The same bounds as the metrics server: idle or slow connections cannot use up watch's descriptors.
    boundServer(this.#app.server);
    const host = o.host === "localhost" || o.host === "127.0.0.1" ? "localhost" : o.host.replace(/^\[(.*)\]$/, "$1");
    try {
      await this.#app.listen({ host, port: o.port });
    } catch (e) {
      await this.#app.close();
      const code = (e as NodeJS.ErrnoException).code;
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot serve the dashboard on ${o.host}:${o.port}: ${code ?? (e as Error).message}${code === "EADDRINUSE" ? " (the port is taken; choose another --ui-port, or 0 for any)" : ""}`);
    }
    const address = this.#app.server.address();
    port = typeof address === "object" && address ? address.port : o.port;
    // The address a browser can use: what was bound (loopback: 127.0.0.1, or the 127.x or ::1 asked for).
    const shown = o.host === "localhost" ? "127.0.0.1" : WILDCARD.has(o.host) ? (extra[0] ?? "127.0.0.1") : bracket(o.host);
    const base = `${tls ? "https" : "http"}://${shown}:${port}/`;
    this.base = base;
    this.url = `${base}#token=${this.token}`;
    (o.say ?? ((line: string) => process.stderr.write(`${line}\n`)))(`halfopen: dashboard at ${this.url}${o.readOnly ? " (read-only)" : ""}`);
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    return { ui: base };
  }

  /** Ends a process only if this watch saw it connect, named as the page named it, and it is still that process. */
  async #kill(r: { pid: number; name: string; startTime: number; signal: "TERM" | "KILL" }) {
    const seen = this.#facts.get(`${r.pid}@${r.startTime}`);
    if (!seen) throw new HalfOpenError(ErrorCodes.REFUSED, `Will not end PID ${r.pid}: this watch never saw it (with start time ${r.startTime}) make a connect attempt; the dashboard ends only processes it shows`);
    if (seen.name !== r.name) throw new HalfOpenError(ErrorCodes.REFUSED, `Will not end PID ${r.pid}: this watch saw it as "${seen.name}", not "${r.name.slice(0, 64)}"`);
    const { assertKillable, endProcess } = await import("../../platform/actions.js");
    const target = assertKillable(r.pid, { name: r.name, startTime: r.startTime }, true);
    return endProcess(target, r.signal, 3000);
  }

  #emit(e: DashboardEvent): void {
    for (const l of this.#listeners) l(e);
  }

  events(batch: readonly ConnectionEvent[]): void {
    for (const e of batch) {
      if (e.type === "connect") {
        const key = processKeyOf(e.process);
        if (!this.#facts.has(key)) {
          if (this.#facts.size >= MAX_FACTS) this.#facts.delete(this.#facts.keys().next().value as string);
          this.#facts.set(key, factsOf(e.process));
        }
      } else if (e.type === "exit") this.#exited.add(e.pid);
    }
  }

  tick(now: number): void {
    if (now - this.#lastSample < 1000 / (this.#o.rate ?? 4)) return;
    this.#lastSample = now;
    this.#sample(now);
  }

  #sample(now: number): void {
    const m = this.#o.monitor;
    const totals = m.totals();
    const counts = totals.processes.map((p) => {
      const ended = p.outcomes.established + p.outcomes.refused + p.outcomes.timeout + p.outcomes.aborted + p.outcomes.unknown;
      // Failed: ended without a connection (refused, timed out, abandoned, or unknown).
      return { key: p.processKey, pid: p.pid, name: p.name, attempts: p.attempts, ended, failed: ended - p.outcomes.established, exited: p.exitedAt !== undefined };
    });
    const perProcess = m.tracker.perProcess().map((p) => ({ key: p.processKey, halfOpen: p.halfOpen }));
    const event = this.model.live(
      now + this.#o.wallOffsetMs,
      m.tracker.halfOpen,
      perProcess,
      counts,
      (key) => this.#facts.get(key),
      (key) => this.#o.verdicts.verdictOf(key)?.verdict,
    );
    this.#emit(event);
  }

  write(item: WatchItem): void {
    for (const record of jsonRecords(item, this.#o.wallOffsetMs)) {
      const r = record as { type: string } & Record<string, unknown>;
      if (r.type === "start") r.replay = this.#o.replay;
      this.#emit(this.model.record(r));
    }
  }

  async finish(now: number): Promise<void> {
    this.#sample(now);
    if (this.#o.replay && !this.#interrupted) {
      this.#o.publish({ kind: "warning", level: "note", message: `the replay has ended; the dashboard stays at ${this.base ?? "its URL"} until Ctrl-C` });
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        if (this.#interrupted) resolve();
      });
    }
    // A scan from the page ends as interrupted, stored as such.
    await this.#scans?.close();
  }

  close(): void {
    this.#scans?.stop();
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    this.#listeners.clear();
    void this.#app?.close();
    this.#app?.server.closeAllConnections();
    this.#app = undefined;
  }
}

function readPem(path: string, option: string): Buffer {
  try {
    const pem = readFileSync(path);
    if (!pem.includes("-----BEGIN ")) throw new Error("not a PEM file");
    return pem;
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const bracket = (host: string) => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);

/** This machine's addresses and name, as a browser may put them in Host when the dashboard binds every address. */
function localNames(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.internal) out.add(bracket(a.address.replace(/%.*$/, "")));
  out.add(hostname().toLowerCase());
  return [...out];
}

function factsOf(p: ProcessInfo): ProcessFacts {
  return {
    pid: p.pid,
    name: p.name,
    ...(p.user !== undefined ? { user: p.user } : {}),
    ...(p.uid !== undefined ? { uid: p.uid } : {}),
    ...(p.cmdline ? { cmdline: p.cmdline } : {}),
    ...(p.startTime !== undefined ? { startTime: p.startTime } : {}),
    ...(p.unit !== undefined ? { unit: p.unit } : {}),
    ...(p.container ? { container: String((p.container as { id?: string; name?: string }).name ?? (p.container as { id?: string }).id ?? "") } : {}),
  };
}
