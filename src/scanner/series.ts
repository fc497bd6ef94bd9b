/**
 * A scan series: one round, or rounds every `everyMs` (`scan --every`, the
 * page's "repeat"), the one place a scan round is run for the CLI and the
 * dashboard alike. Each round is stored when a database is given (its hosts
 * in batches as they finish) and compared with the previous scan of the same
 * targets and ports, stored or remembered from earlier rounds of this
 * process. What happens is published to sinks, the way `watch` publishes to
 * its own: `roundStart`, `host` (every finished host, up or down, as it
 * finishes), `roundEnd` (the hosts up in address order, the summary, the
 * changes), `stopped` (a stop between rounds). Text, CSV, JSON, nmap XML,
 * the journal, the `--on-change` hook and the dashboard are sinks.
 *
 * Needs: the scanner (sockets); a database through a port (ScanHistoryPort),
 * optional.
 */
import { setTimeout as delay } from "node:timers/promises";
import { compareAddresses, diffScans, type ScanChange } from "../core/scan/diff.js";
import { specKey, type HostResult, type ScanSpec, type ScanSummary } from "../core/scan/model.js";
import { scan, type PreparedTargets } from "./scan.js";
import type { Scan } from "./types.js";
import { timingTemplate } from "../core/scan/nmap-timing.js";

/** What a series needs of the scan history (store/scan-history.ts's ScanHistory is one). */
export interface ScanHistoryPort {
  begin(run: { startedAt: number; pid: number; pidStartTime?: number; hostname: string; version: string; spec: ScanSpec }): number;
  addHosts(scanId: number, hosts: readonly HostResult[]): void;
  end(scanId: number, state: "done" | "interrupted", endedAt: number, summary: Record<string, unknown>): void;
  previous(spec: ScanSpec, scanId: number): { id: number; spec: ScanSpec; state: string } | undefined;
  hosts(scanId: number): HostResult[];
}

/** A round remembered in this process, to compare the next one with when nothing is stored. */
export interface RememberedRound {
  ref: number;
  scanId?: number;
  hosts: HostResult[];
  ports: number[];
  complete: boolean;
}

export interface RoundStart {
  round: number;
  /** The caller's id for this round (`roundRef`), else the round number. */
  ref: number;
  startedAt: number;
  total: number;
  scanId?: number;
  /** The running scan: its summary at any time (progress). */
  scan: Scan;
  /** Every address this round scans (not a resumed scan's finished ones), in the order it walks them. */
  order: () => Iterator<string>;
}

export interface RoundEnd {
  round: number;
  ref: number;
  /** Hosts found up (a resumed scan's included), in address order. */
  hosts: HostResult[];
  /** The scan's summary, a resumed scan's hosts counted in. */
  summary: ScanSummary;
  complete: boolean;
  /** The scan failed (its message); the round is stored as interrupted. */
  error?: string;
  scanId?: number;
  /** What the changes are against: a stored scan and/or a remembered round of this process. */
  previous?: { scanId?: number; ref?: number };
  changes: ScanChange[];
  /** When the next round starts (wall ms), in a repeating series. */
  nextAt?: number;
}

export interface ScanSink {
  roundStart?(r: RoundStart): void;
  /** A finished host; `prior`: a resumed scan's, from its journal, not scanned again. */
  host?(h: HostResult, prior: boolean): void;
  roundEnd?(r: RoundEnd): void;
  /** The series was stopped between rounds. */
  stopped?(): void;
}

export interface SeriesOptions {
  spec: ScanSpec;
  prepared: PreparedTargets;
  /** Repeat every this many ms (absent: one round). */
  everyMs?: number;
  signal: AbortSignal;
  /** Opens the history for a round (undefined: not stored); closed when the round ends. */
  openHistory?: () => { history: ScanHistoryPort; close(): void } | undefined;
  /** Who runs the scan, for the stored record. */
  run: { pid: number; pidStartTime?: number; hostname: string; version: string };
  /** A resumed scan's finished hosts (up and down): not scanned again, stored and published as this round's. */
  prior?: readonly HostResult[];
  /** Rounds of this process by spec key (shared across series), compared with when nothing stored is. */
  memory?: Map<string, RememberedRound>;
  /** The caller's id for a round (the dashboard's scan ids). */
  roundRef?: (round: number) => number;
  /** A store failure, said once per round; the round goes on unstored. */
  warn: (message: string) => void;
  /** A scan that throws: "report" ends the round as failed, "throw" rethrows after it is stored. Default "throw". */
  onError?: "report" | "throw";
  sinks: ScanSink[];
}

/** Runs the rounds until the series ends (one round, the signal, or an error with onError "throw"). */
export async function runSeries(o: SeriesOptions): Promise<void> {
  for (let round = 1; ; round++) {
    const started = Date.now();
    const end = await runRound(o, round);
    if (o.everyMs !== undefined && !o.signal.aborted) end.nextAt = started + o.everyMs;
    for (const s of o.sinks) s.roundEnd?.(end);
    if (end.nextAt === undefined) return;
    await delay(Math.max(0, end.nextAt - Date.now()), undefined, { signal: o.signal }).catch(() => undefined); // a stop ends the wait
    if (o.signal.aborted) {
      for (const s of o.sinks) s.stopped?.();
      return;
    }
  }
}

const countPorts = (hosts: readonly HostResult[], state: string) => hosts.reduce((n, h) => n + h.ports.filter((p) => p.state === state).length, 0);

/** Batches of hosts into the history: one transaction a second or every 256 hosts; after a failure nothing more. */
class Batches {
  #pending: HostResult[] = [];
  #at = Date.now();
  constructor(
    private readonly write: ((hosts: HostResult[]) => void) | undefined,
    private readonly failed: (e: unknown) => void,
  ) {}
  add(h: HostResult): void {
    this.#pending.push(h);
    if (this.#pending.length >= 256 || Date.now() - this.#at > 1000) this.flush();
  }
  flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#at = Date.now();
    if (!this.write || batch.length === 0) return;
    try {
      this.write(batch);
    } catch (e) {
      this.failed(e);
    }
  }
}

/** One round: stored, scanned, published, compared. */
async function runRound(o: SeriesOptions, round: number): Promise<RoundEnd> {
  const { spec } = o;
  const ref = o.roundRef?.(round) ?? round;
  const prior = round === 1 ? (o.prior ?? []) : [];
  const opened = o.openHistory?.();
  let history = opened?.history;
  let scanId: number | undefined;
  const storeFailed = (e: unknown) => {
    if (history) o.warn(`${(e as Error).message}; this scan is not stored (its results are shown)`);
    history = undefined;
  };
  try {
    scanId = history?.begin({ startedAt: Date.now(), ...o.run, spec });
    if (scanId !== undefined && prior.length > 0) history?.addHosts(scanId, prior);
  } catch (e) {
    storeFailed(e);
  }
  const timing = timingTemplate(spec.timing);
  const skip = prior.length > 0 ? new Set(prior.map((h) => h.address)) : undefined;
  const order = function* () {
    for (const a of o.prepared.set.addresses(spec.shard)) if (!skip?.has(a.address)) yield a.address;
  };
  const run = scan({ targets: spec.targets, exclude: spec.exclude, ports: spec.ports, maxHalfOpen: spec.maxHalfOpen, discovery: spec.discovery, retries: spec.retries, rtt: timing.rtt, ...(timing.releasePerSecond === undefined ? {} : { releasePerSecond: timing.releasePerSecond }), allowLarge: true, signal: o.signal, prepared: o.prepared, ...(spec.shard ? { shard: spec.shard } : {}), ...(spec.bannerMs === undefined ? {} : { bannerMs: spec.bannerMs }), ...(skip ? { skip } : {}) });
  const startedAt = Date.now();
  for (const s of o.sinks) s.roundStart?.({ round, ref, startedAt, total: Number(o.prepared.set.shardCount(spec.shard)), scan: run, order, ...(scanId === undefined ? {} : { scanId }) });
  const priorUp = prior.filter((h) => h.status === "up");
  for (const h of priorUp) for (const s of o.sinks) s.host?.(h, true);
  const hosts: HostResult[] = [...priorUp];
  const batches = new Batches(history && scanId !== undefined ? (list) => history?.addHosts(scanId as number, list) : undefined, storeFailed);
  let error: unknown;
  try {
    for await (const host of run) {
      for (const s of o.sinks) s.host?.(host, false);
      if (host.status !== "up") continue;
      hosts.push(host);
      batches.add(host);
    }
  } catch (e) {
    error = e;
  } finally {
    batches.flush();
  }
  const s = run.summary();
  const summary: ScanSummary = { ...s, up: s.up + priorUp.length, down: s.down + prior.length - priorUp.length, open: s.open + countPorts(priorUp, "open"), unknown: s.unknown + countPorts(priorUp, "unknown") };
  const complete = !summary.aborted && error === undefined;
  hosts.sort((a, b) => compareAddresses(a.address, b.address));
  const end: RoundEnd = { round, ref, hosts, summary, complete, changes: [], ...(error === undefined ? {} : { error: (error as Error).message }) };
  try {
    if (history && scanId !== undefined) {
      history.end(scanId, complete ? "done" : "interrupted", Date.now(), { ...summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length, round });
      end.scanId = scanId;
      const before = history.previous(spec, scanId);
      if (before) {
        const mine = [...(o.memory?.values() ?? [])].find((l) => l.scanId === before.id);
        end.previous = { scanId: before.id, ...(mine ? { ref: mine.ref } : {}) };
        end.changes = diffScans({ hosts: history.hosts(before.id), ports: before.spec.ports, complete: before.state === "done" }, { hosts, ports: spec.ports, complete });
      }
    }
  } catch (e) {
    storeFailed(e);
  } finally {
    opened?.close();
  }
  remember(o, end);
  if (error !== undefined && o.onError !== "report") throw error;
  return end;
}

/** Compares with this process's previous round of the same spec when nothing stored was found, and remembers this one. */
function remember(o: SeriesOptions, end: RoundEnd): void {
  const memory = o.memory;
  if (!memory) return;
  const key = specKey(o.spec);
  const last = memory.get(key);
  if (!end.previous && last) {
    end.previous = { ref: last.ref };
    end.changes = diffScans(last, { hosts: end.hosts, ports: o.spec.ports, complete: end.complete });
  }
  memory.delete(key);
  memory.set(key, { ref: end.ref, hosts: end.hosts, ports: o.spec.ports, complete: end.complete, ...(end.scanId === undefined ? {} : { scanId: end.scanId }) });
  while (memory.size > 20) memory.delete(memory.keys().next().value as string);
}
