/**
 * The scanner's public types: what a scan is asked (ScanOptions), what it
 * reports per host and port (HostResult, PortResult) and overall
 * (ScanSummary), and the scan object itself.
 */
import type { RttOptions } from "../core/scan/timing.js";
import type { HostResult, ScanSummary } from "../core/scan/model.js";

export type { HostResult, PortResult, ScanSummary } from "../core/scan/model.js";
import type { Shard } from "../core/scan/targets.js";
import type { PreparedTargets } from "./scan.js";

export interface ScanOptions {
  /** Addresses, CIDR blocks, ranges ("198.18.0.1-40", "198.18.0.1-198.18.1.7") or host names. */
  targets: readonly string[];
  exclude?: readonly string[];
  /** Port numbers, or a list as written ("22,80,8000-8100", "-" for all). Default DEFAULT_PORTS (nmap's top 20). */
  ports?: readonly number[] | string;
  /** Connect attempts in SYN_SENT at once, the whole scan. Default 10. */
  maxHalfOpen?: number;
  /** Start probes no faster than this many per second (nmap's -T0 to -T2 scan delay). Default: unpaced. */
  releasePerSecond?: number;
  /**
   * How hosts are found up before their ports are checked. "auto" (default): ICMP echo and TCP ACK to 80 and
   * 443 over raw sockets (no half-open slot; needs CAP_NET_RAW), else ICMP through a Linux ping socket with
   * connects to 80 and 443 for the hosts that did not answer, else connects only. "connect": connects to 80
   * and 443 (nmap's unprivileged discovery, inside the budget). "none": every host is up (nmap -Pn).
   */
  discovery?: "auto" | "connect" | "none";
  /** Discovery probes sent per second (raw and ping sockets). Default 2000. */
  discoveryRate?: number;
  /** Attempts again after silence. Default 1. */
  retries?: number;
  /** Attempts again after a local error (EMFILE, ...). Default 4. */
  localRetries?: number;
  /** Read what open ports say first, for at most this long (ms). */
  bannerMs?: number;
  /** Scan shard k of n. */
  shard?: Shard;
  /** nmap's timing bounds. Default T3: initial 1000 ms, min 100, max 10000. */
  rtt?: RttOptions;
  /** Hosts scanned at once. Default 256. */
  hostWindow?: number;
  /** Probes in flight per host. Default 2. */
  perHost?: number;
  /** Stops the scan: queued probes are dropped, in-flight ones destroyed; the iterator ends after the hosts already finished. */
  signal?: AbortSignal;
  /** Refuse more than 65,536 addresses unless this is set. */
  allowLarge?: boolean;
  /** Host names to addresses (default: the system resolver, every address). */
  resolve?: (name: string) => Promise<string[]>;
  /** Skip these addresses (already scanned: --resume). */
  skip?: ReadonlySet<string>;
  /** The targets already parsed and resolved (resolveTargets), so names are looked up once. */
  prepared?: PreparedTargets;
}

/** A scan in progress: iterate it for hosts as they finish; `summary()` at any time. */
export interface Scan extends AsyncIterable<HostResult> {
  summary(): ScanSummary;
  readonly ports: readonly number[];
}

