/**
 * The scan model, one name per concept, shared by the scanner, the CLI's
 * outputs (text, CSV, JSON, nmap XML, the journal), the store and the
 * dashboard: what a scan covers (ScanSpec, its key), what it found for a
 * host and its ports (HostResult, PortResult), how it went (ScanSummary),
 * and the JSON view of a host (`hostView`) that `scan --json`, the journal's
 * readers and the page all see. Pure.
 */
import type { ScanChange } from "./diff.js";
import type { PortState } from "./timing.js";

/** What a scan covers: a resumed scan must cover the same. */
export interface ScanSpec {
  targets: string[];
  exclude: string[];
  ports: number[];
  discovery: "auto" | "connect" | "none";
  shard?: { index: number; count: number };
  maxHalfOpen: number;
  retries: number;
  bannerMs?: number;
  /** nmap's timing template (-T0 to -T5; nmap-timing.ts), when not the default 3. */
  timing?: number;
}

/** The fields that decide which (address, port) pairs a scan checks and how hosts are found. */
export function specKey(spec: ScanSpec): string {
  return JSON.stringify({
    targets: spec.targets,
    exclude: spec.exclude,
    ports: spec.ports,
    discovery: spec.discovery,
    shard: spec.shard ? `${spec.shard.index}/${spec.shard.count}` : null,
  });
}

export interface PortResult {
  port: number;
  state: PortState;
  /** Why: syn-ack, conn-refused, no-response, host-unreach, admin-prohibited, or the local error. */
  reason: string;
  /** Time to the answer, ms, when there was one. */
  rttMs?: number;
  banner?: string;
}

export interface HostResult {
  address: string;
  family: 4 | 6;
  /** up: it answered; down: discovery got no answer (its ports were not checked). */
  status: "up" | "down";
  /** How it was found up: "echo-reply" (ICMP), "reset" (an ACK probe drew a RST), "syn-ack" or "conn-refused" on a discovery port, "user-set" with -Pn. */
  reason: string;
  /** The names it was given as, when it came from a host name. */
  names?: string[];
  ports: PortResult[];
  /** nmap's estimate for the host at the end, ms. */
  times?: { srttMs: number; rttvarMs: number; timeoutMs: number };
  startedAt: number;
  endedAt: number;
}

export interface ScanSummary {
  /** Addresses in the scan (this shard), and done so far (skipped ones included). */
  total: number;
  done: number;
  /** Addresses not scanned because `skip` held them (a resumed scan's finished hosts). */
  skipped: number;
  up: number;
  down: number;
  open: number;
  /** Ports reported unknown (local errors that persisted). */
  unknown: number;
  /** Connect attempts made, and retries among them. */
  probes: number;
  retries: number;
  localErrors: number;
  peakInFlight: number;
  /** What discovery used: raw (ICMP and ACK), ping-socket (ICMP, then connects for the silent), connect, or none (-Pn). */
  discovery: "raw" | "ping-socket" | "connect" | "none";
  /** Why discovery fell back from raw sockets, said once (e.g. no CAP_NET_RAW). */
  discoveryNote?: string;
  /** Hosts a raw or ping-socket sweep found up (their ports are checked next); progress estimates from it. */
  discovered?: number;
  /** Time spent in raw or ping-socket sweeps (the port checks of earlier hosts run meanwhile), ms. */
  discoveryMs: number;
  aborted: boolean;
  startedAt: number;
  elapsedMs: number;
}

/** A host as JSON shows it (`scan --json`, the page's scan-hosts): the result without its timing internals. */
export interface HostView {
  address: string;
  names?: string[];
  status: "up" | "down";
  reason: string;
  ports: { port: number; state: string; reason: string; rttMs?: number; banner?: string }[];
}

/** The JSON view of a host. */
export function hostView(h: HostResult): HostView {
  return {
    address: h.address,
    ...(h.names ? { names: h.names } : {}),
    status: h.status,
    reason: h.reason,
    ports: h.ports.map((p) => ({ port: p.port, state: p.state, reason: p.reason, ...(p.rttMs === undefined ? {} : { rttMs: p.rttMs }), ...(p.banner === undefined ? {} : { banner: p.banner }) })),
  };
}

/**
 * A scan's summary as JSON shows it: with the budget, the number of ports, and its times as `...Wall` (ms since the
 * epoch, the one meaning of that suffix in every JSON halfopen writes; docs/record-format.md, "Times in JSON").
 * `startedAt` (the same number) stays one release for older readers.
 */
export type ScanSummaryJson = ScanSummary & { startedAtWall: number; endedAtWall: number; maxHalfOpen: number; ports: number };

export function summaryJson(s: ScanSummary, maxHalfOpen: number, ports: number): ScanSummaryJson {
  return { ...s, startedAtWall: s.startedAt, endedAtWall: s.startedAt + s.elapsedMs, maxHalfOpen, ports };
}

/** A summary read back from the store (any version's): with its `...Wall` times when it has the numbers to make them. */
export function storedSummaryJson(summary: Record<string, unknown>): Record<string, unknown> {
  const { startedAt, elapsedMs } = summary;
  if (typeof startedAt !== "number" || typeof elapsedMs !== "number" || typeof summary.startedAtWall === "number") return summary;
  return { ...summary, startedAtWall: startedAt, endedAtWall: startedAt + elapsedMs };
}

/** A stored host as JSON: the result with `startedAtWall`/`endedAtWall` (its `startedAt`/`endedAt`, the same numbers, one release). */
export function storedHostJson(h: HostResult): HostResult & { startedAtWall: number; endedAtWall: number } {
  return { ...h, startedAtWall: h.startedAt, endedAtWall: h.endedAt };
}

/** A stored scan's times as JSON gives them: `startedAtWall` and, once it ended, `endedAtWall`. */
export function storedScanTimes(s: { startedAt: number; endedAt?: number }): { startedAtWall: number; endedAtWall?: number } {
  return { startedAtWall: s.startedAt, ...(s.endedAt === undefined ? {} : { endedAtWall: s.endedAt }) };
}

/** `scan --json`'s one object at the end of a single scan. */
export interface ScanJsonRecord {
  type: "scan";
  hosts: HostView[];
  summary: ScanSummaryJson;
  scanId?: number;
  previousScanId?: number;
  changes: ScanChange[];
}

/** `scan --every --json`: one line per change... */
export type ChangeJsonRecord = { type: "change"; round: number; scanId?: number; previousScanId?: number; atWall: number; /** The same time as an ISO string: one release, then gone (read `atWall`). */ at: string } & ScanChange;

/** ...and one per round, with its hosts. */
export interface RoundJsonRecord {
  type: "round";
  round: number;
  scanId?: number;
  previousScanId?: number;
  complete: boolean;
  changes: number;
  hosts: HostView[];
  summary: ScanSummaryJson;
}

/** What an `--on-change` program reads on its standard input. */
export interface ChangesRecord {
  type: "changes";
  round: number;
  scanId?: number;
  previousScanId?: number;
  /** When the round ended, ms since the epoch. */
  atWall: number;
  /** The same as an ISO string: one release, then gone (read `atWall`). */
  at: string;
  changes: ScanChange[];
  up: number;
  open: number;
}

/** Every JSON record `halfopen scan` writes (standard output, the hook's input). */
export type ScanOutputRecord = ScanJsonRecord | ChangeJsonRecord | RoundJsonRecord | ChangesRecord;
