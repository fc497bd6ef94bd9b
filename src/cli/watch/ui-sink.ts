/**
 * The dashboard sink of `halfopen watch --ui`: a local web page beside the
 * monitor (src/dashboard/). It keeps the process details it sees in connect
 * events (bounded), samples the monitor four times a second into the model, hands
 * every `--json` record to it, and serves the page on loopback with a token
 * per run (the URL is printed at start).
 *
 * With `--replay FILE --ui` the page stays up after the replay ends, until
 * Ctrl-C, so a recorded incident can be explored.
 *
 * Needs: a listening TCP socket (loaded only with --ui); process signals for
 * the page's "end" action (the same checks as `halfopen kill`).
 */
import { randomBytes } from "node:crypto";
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
  url?: string;

  constructor(options: UiSinkOptions) {
    this.#o = options;
    this.model = new DashboardModel({ limit: options.monitor.limit });
  }

  async open(): Promise<StartFacts> {
    const { createDashboardServer, loopbackHosts } = await import("../../dashboard/server.js");
    const { IncidentStore } = await import("../../store/incident-store.js");
    const { formatIncidentCsv } = await import("../incidents/format.js");
    const { incidentJson } = await import("../incidents/run.js");
    const { DashboardScans } = await import("../../dashboard/scans.js");
    const o = this.#o;
    if (o.scans !== false) {
      this.#scans = new DashboardScans({
        emit: (r) => this.#emit(this.model.record(r)),
        db: o.db,
        limit: o.monitor.limit,
        warn: (message) => o.publish({ kind: "warning", level: "warning", message }),
      });
      await this.#scans.prepare();
    }
    let port = 0;
    const extra = isLoopbackHost(o.host) ? [] : [o.host.includes(":") ? `[${o.host}]` : o.host];
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
    });
    const host = o.host === "localhost" || o.host === "127.0.0.1" ? "localhost" : o.host;
    try {
      await this.#app.listen({ host, port: o.port });
    } catch (e) {
      await this.#app.close();
      const code = (e as NodeJS.ErrnoException).code;
      throw new HalfOpenError(code === "EADDRINUSE" ? ErrorCodes.BAD_USAGE : ErrorCodes.BAD_USAGE, `Cannot serve the dashboard on ${o.host}:${o.port}: ${code ?? (e as Error).message}${code === "EADDRINUSE" ? " (the port is taken; choose another --ui-port, or 0 for any)" : ""}`);
    }
    const address = this.#app.server.address();
    port = typeof address === "object" && address ? address.port : o.port;
    const shown = isLoopbackHost(o.host) ? "127.0.0.1" : extra[0];
    this.url = `http://${shown}:${port}/?token=${this.token}`;
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    return { ui: this.url };
  }

  async #kill(r: { pid: number; name: string; startTime: number; signal: "TERM" | "KILL" }) {
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
      this.#o.publish({ kind: "warning", level: "note", message: `the replay has ended; the dashboard stays at ${this.url ?? "its URL"} until Ctrl-C` });
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
