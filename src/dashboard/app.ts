/**
 * The dashboard as an app of its own: the model (model.ts), the server
 * (server.ts), the scans from the page (scans.ts), the processes it saw, and
 * the listening socket with its address and token, built from narrow ports
 * that the host program provides:
 *   - `live`: the numbers sampled four times a second (half-open now, per
 *     process, each process's counts, its verdict);
 *   - `incidents`: an incident reader (stored ones, else this run's);
 *   - `kill`: the action that ends a process (absent: a replay);
 *   - `scanDb`: where the page's scans are stored, if anywhere.
 * `watch --ui` (cli/watch/ui-sink.ts) feeds it records and events; nothing
 * here knows the CLI, the store or the OS.
 *
 * Security (server.ts): a token per run in the URL's fragment, a Host
 * check, same-origin JSON actions, the metrics server's connection bounds;
 * the kill port is called only for a process this app saw connect, named as
 * it saw it.
 */
import { randomBytes } from "node:crypto";
import { hostname, networkInterfaces } from "node:os";
import type { FastifyInstance } from "fastify";
import { processKeyOf } from "../core/attempt.js";
import type { ConnectionEvent, ProcessInfo } from "../core/events.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { boundServer } from "../metrics/watch-metrics.js";
import { DashboardModel, type AnyDashboardRecord, type DashboardEvent, type ProcessCounts, type ProcessFacts } from "./model.js";
import type { DashboardScans } from "./scans.js";
import { createDashboardServer, loopbackHosts, type IncidentSource, type KillRequest } from "./server.js";

/** The numbers the page samples (the monitor's, in `watch`). */
export interface LivePort {
  halfOpen(): number;
  perProcess(): { key: string; halfOpen: number }[];
  counts(): ProcessCounts[];
  verdictOf(key: string): string | undefined;
}

/** Ends a process the user confirmed (pid, name and start time checked again right before the signal). */
export type KillPort = (request: KillRequest) => Promise<{ result: "exited" | "running"; signal: string; waitedMs: number; name: string; pid: number }>;

export interface DashboardAppOptions {
  limit: number;
  live: LivePort;
  incidents: IncidentSource;
  kill?: KillPort;
  /** The database the page's scans are stored in (undefined: not stored); absent: the page may not scan. */
  scanDb?: () => string | undefined;
  readOnly?: boolean;
  /** Warnings for the host program's output. */
  warn: (message: string) => void;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { key: Buffer; cert: Buffer };
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);
const MAX_FACTS = 20_000;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class DashboardApp {
  readonly model: DashboardModel;
  readonly token = randomBytes(18).toString("base64url");
  readonly #o: DashboardAppOptions;
  readonly #facts = new Map<string, ProcessFacts>();
  readonly #listeners = new Set<(e: DashboardEvent) => void>();
  #scans?: DashboardScans;
  #server?: FastifyInstance;
  /** The URL with the token (said once, by the host program), and without it. */
  url?: string;
  base?: string;

  constructor(options: DashboardAppOptions) {
    this.#o = options;
    this.model = new DashboardModel({ limit: options.limit });
  }

  /** Builds the server and listens; resolves with the address (without the token). */
  async listen(l: ListenOptions): Promise<string> {
    const o = this.#o;
    if (o.scanDb && !o.readOnly) {
      const { DashboardScans } = await import("./scans.js");
      this.#scans = new DashboardScans({ emit: (r) => this.#emit(this.model.record(r)), db: o.scanDb, limit: o.limit, warn: o.warn });
      await this.#scans.prepare();
    }
    let port = 0;
    const extra = l.host === "localhost" ? [] : WILDCARD.has(l.host) ? localNames() : [bracket(l.host)];
    const server = await createDashboardServer({
      model: this.model,
      token: this.token,
      hosts: () => loopbackHosts(port, extra),
      subscribe: (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      },
      incidents: o.incidents,
      ...(o.kill ? { actions: { kill: (r: KillRequest) => this.#kill(r) } } : {}),
      ...(this.#scans ? { scans: this.#scans } : {}),
      ...(o.readOnly ? { readOnly: true } : {}),
      ...(l.tls ? { https: l.tls } : {}),
    });
    this.#server = server;
    // The same bounds as the metrics server: idle or slow connections cannot use up the host program's descriptors.
    boundServer(server.server);
    const host = l.host === "localhost" || l.host === "127.0.0.1" ? "localhost" : l.host.replace(/^\[(.*)\]$/, "$1");
    try {
      await server.listen({ host, port: l.port });
    } catch (e) {
      await server.close();
      const code = (e as NodeJS.ErrnoException).code;
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot serve the dashboard on ${l.host}:${l.port}: ${code ?? (e as Error).message}${code === "EADDRINUSE" ? " (the port is taken; choose another --ui-port, or 0 for any)" : ""}`);
    }
    const address = server.server.address();
    port = typeof address === "object" && address ? address.port : l.port;
    // The address a browser can use: what was bound (loopback: 127.0.0.1, or the 127.x or ::1 asked for).
    const shown = l.host === "localhost" ? "127.0.0.1" : WILDCARD.has(l.host) ? (extra[0] ?? "127.0.0.1") : bracket(l.host);
    this.base = `${l.tls ? "https" : "http"}://${shown}:${port}/`;
    this.url = `${this.base}#token=${this.token}`;
    return this.base;
  }

  /** Ends a process only if this app saw it connect, named as the page named it; the kill port checks it is still that process. */
  async #kill(r: KillRequest) {
    const seen = this.#facts.get(`${r.pid}@${r.startTime}`);
    if (!seen) throw new HalfOpenError(ErrorCodes.REFUSED, `Will not end PID ${r.pid}: this watch never saw it (with start time ${r.startTime}) make a connect attempt; the dashboard ends only processes it shows`);
    if (seen.name !== r.name) throw new HalfOpenError(ErrorCodes.REFUSED, `Will not end PID ${r.pid}: this watch saw it as "${seen.name}", not "${r.name.slice(0, 64)}"`);
    return (this.#o.kill as KillPort)(r);
  }

  #emit(e: DashboardEvent): void {
    for (const l of this.#listeners) l(e);
  }

  /** A record for the page (watch's JSON records). */
  record(record: AnyDashboardRecord): void {
    this.#emit(this.model.record(record));
  }

  /** The processes seen connecting (what the page shows of them, and what the kill action checks). */
  events(batch: readonly ConnectionEvent[]): void {
    for (const e of batch) {
      if (e.type !== "connect") continue;
      const key = processKeyOf(e.process);
      if (this.#facts.has(key)) continue;
      if (this.#facts.size >= MAX_FACTS) this.#facts.delete(this.#facts.keys().next().value as string);
      this.#facts.set(key, factsOf(e.process));
    }
  }

  /** One sample of the live numbers at wall time `t`. */
  sample(t: number): void {
    const live = this.#o.live;
    this.#emit(this.model.live(t, live.halfOpen(), live.perProcess(), live.counts(), (key) => this.#facts.get(key), (key) => live.verdictOf(key)));
  }

  /** Ends a scan from the page (stored as interrupted) and waits for it. */
  async finish(): Promise<void> {
    await this.#scans?.close();
  }

  close(): void {
    this.#scans?.stop();
    this.#listeners.clear();
    void this.#server?.close();
    this.#server?.server.closeAllConnections();
    this.#server = undefined;
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
    ...(p.container ? { container: p.container.id } : {}),
  };
}
