/**
 * The dashboard sink of `halfopen watch --ui`: wires the dashboard app
 * (src/dashboard/app.ts) into the watch. It provides the app's ports (the
 * monitor's live numbers, the incident reader over the store, the kill
 * action through `halfopen kill`'s checks, where the page's scans are
 * stored), hands it every `--json` record and every connect, samples it four
 * times a second, and says the URL with the token on standard error only (the
 * `start` record carries the URL without it).
 *
 * With `--replay FILE --ui` the page stays up after the replay ends, until
 * Ctrl-C, so a recorded incident can be explored.
 *
 * Needs: a listening TCP socket (loaded only with --ui); process signals for
 * the page's "end" action.
 */
import { readFileSync } from "node:fs";
import type { ConnectionEvent } from "../../core/events.js";
import type { HalfOpenMonitor } from "../../core/monitor.js";
import type { ScanVerdictDetector } from "../../core/scan-detector.js";
import type { DashboardApp, LivePort } from "../../dashboard/app.js";
import type { IncidentSource } from "../../dashboard/server.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { StartRecord } from "../../core/watch-records.js";
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

export class UiSink implements Sink {
  readonly name = "ui";
  readonly #o: UiSinkOptions;
  #app?: DashboardApp;
  #lastSample = Number.NEGATIVE_INFINITY;
  #interrupted = false;
  readonly #onSignal = () => {
    this.#interrupted = true;
    this.#wake?.();
  };
  #wake?: () => void;

  constructor(options: UiSinkOptions) {
    this.#o = options;
  }

  /** The URL with the token, and without it (after open). */
  get url(): string | undefined {
    return this.#app?.url;
  }

  get base(): string | undefined {
    return this.#app?.base;
  }

  async open(): Promise<StartFacts> {
    const o = this.#o;
    const { DashboardApp } = await import("../../dashboard/app.js");
    const tls = o.tlsFiles ? { key: readPem(o.tlsFiles.key, "--ui-tls-key"), cert: readPem(o.tlsFiles.cert, "--ui-tls-cert") } : undefined;
    const thisRun: { app?: DashboardApp } = {};
    const app: DashboardApp = new DashboardApp({
      limit: o.monitor.limit,
      live: livePort(o.monitor, o.verdicts),
      incidents: await incidentReader(o.db, () => thisRun.app?.model.incidents() ?? []),
      ...(o.replay ? {} : { kill: killPort }),
      ...(o.scans !== false ? { scanDb: o.db } : {}),
      ...(o.readOnly ? { readOnly: true } : {}),
      warn: (message) => o.publish({ kind: "warning", level: "warning", message }),
    });
    this.#app = app;
    thisRun.app = app;
    const base = await app.listen({ host: o.host, port: o.port, ...(tls ? { tls } : {}) });
    (o.say ?? ((line: string) => process.stderr.write(`${line}\n`)))(`halfopen: dashboard at ${app.url}${o.readOnly ? " (read-only)" : ""}`);
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    return { ui: base };
  }

  events(batch: readonly ConnectionEvent[]): void {
    this.#app?.events(batch);
  }

  tick(now: number): void {
    if (now - this.#lastSample < 1000 / (this.#o.rate ?? 4)) return;
    this.#lastSample = now;
    this.#app?.sample(now + this.#o.wallOffsetMs);
  }

  write(item: WatchItem): void {
    for (const record of jsonRecords(item, this.#o.wallOffsetMs)) this.#app?.record(record.type === "start" ? { ...(record as StartRecord), replay: this.#o.replay } : record);
  }

  async finish(now: number): Promise<void> {
    this.#app?.sample(now + this.#o.wallOffsetMs);
    if (this.#o.replay && !this.#interrupted) {
      this.#o.publish({ kind: "warning", level: "note", message: `the replay has ended; the dashboard stays at ${this.base ?? "its URL"} until Ctrl-C` });
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        if (this.#interrupted) resolve();
      });
    }
    // A scan from the page ends as interrupted, stored as such.
    await this.#app?.finish();
  }

  close(): void {
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    this.#app?.close();
    this.#app = undefined;
  }
}

/** The monitor's live numbers, as the dashboard samples them. */
function livePort(m: HalfOpenMonitor, verdicts: ScanVerdictDetector): LivePort {
  return {
    halfOpen: () => m.tracker.halfOpen,
    perProcess: () => m.tracker.perProcess().map((p) => ({ key: p.processKey, halfOpen: p.halfOpen })),
    counts: () =>
      m.totals().processes.map((p) => {
        const ended = p.outcomes.established + p.outcomes.refused + p.outcomes.timeout + p.outcomes["dropped-locally"] + p.outcomes.aborted + p.outcomes.unknown;
        // Failed: ended without a connection (refused, timed out, abandoned, or unknown).
        return { key: p.processKey, pid: p.pid, name: p.name, attempts: p.attempts, ended, failed: ended - p.outcomes.established, exited: p.exitedAt !== undefined, ...(p.via ? { via: p.via } : {}) };
      }),
    verdictOf: (key) => verdicts.verdictOf(key)?.verdict,
  };
}

/** `halfopen kill`'s path: the identity read again and checked right before the signal. */
const killPort: NonNullable<import("../../dashboard/app.js").DashboardAppOptions["kill"]> = async (r) => {
  const { assertKillable, endProcess } = await import("../../platform/actions.js");
  const target = assertKillable(r.pid, { name: r.name, startTime: r.startTime }, true);
  return endProcess(target, r.signal, 3000);
};

/** Incidents from the store when `watch` stores (as `halfopen incidents` shows them), else this run's. */
async function incidentReader(db: () => string | undefined, thisRun: () => import("../../core/watch-records.js").IncidentRecord[]): Promise<IncidentSource> {
  const { IncidentStore } = await import("../../store/incident-store.js");
  const { formatIncidentCsv } = await import("../incidents/format.js");
  const { incidentJson } = await import("../incidents/run.js");
  type Store = import("../../store/incident-store.js").IncidentStore;
  const readStore = <T>(fn: (s: Store) => T): T | undefined => {
    const path = db();
    if (!path) return undefined;
    const store = IncidentStore.open({ path, readonly: true });
    try {
      return fn(store);
    } finally {
      store.close();
    }
  };
  const inRange = (f: { since?: number; until?: number }) => thisRun().filter((i) => (f.since === undefined || i.startedAtWall >= f.since) && (f.until === undefined || i.startedAtWall <= f.until));
  return {
    list: (filter) => readStore((s) => s.list(filter).map(incidentJson)) ?? inRange(filter),
    get: (id) => {
      const stored = readStore((s) => s.get(id));
      return stored ? incidentJson(stored) : thisRun().find((i) => i.id === id || i.runIncident === id);
    },
    csv: (filter) =>
      formatIncidentCsv(
        readStore((s) => s.list(filter)) ??
          inRange(filter).map((r) => ({ id: r.id, runId: 0, runIncident: r.runIncident ?? r.id, state: r.type === "incident-open" ? ("open" as const) : ("closed" as const), hostname: "", source: "", report: r })),
      ),
  };
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
