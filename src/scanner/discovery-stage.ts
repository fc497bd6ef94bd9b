/**
 * The discovery stage of a scan: walks the targets, skips what a resumed
 * scan already did, and sweeps them DISCOVERY_CHUNK at a time with raw (or
 * ping-socket) discovery, two sweeps overlapping (the next one sends while
 * the previous one waits for late replies; starts paced to keep the rate).
 * Hosts that answered go to the port checks through the HostQueue; silent
 * ones are reported down (raw) or go to the port checks to be found by
 * connect (no raw sockets, a ping socket's silence, IPv6 that could not be
 * swept). With discovery "none" (-Pn) every address goes to the port checks.
 */
import type { RttEstimator } from "../core/scan/timing.js";
import { downHost, type Found } from "./host-check.js";
import type { HostQueue } from "./host-queue.js";
import type { RawDiscovery, SweepResult } from "./raw-discovery.js";
import type { HostResult, ScanSummary } from "./types.js";

/** Addresses per raw discovery sweep. */
export const DISCOVERY_CHUNK = 256;
/**
 * Sweeps in flight at once. A sweep sends its probes, then waits for late
 * replies; the next one sends meanwhile (started when the previous one's
 * probes are out, so the rate stays `rate`). Each holds a libuv thread while
 * it runs: two leave the rest of the pool free.
 */
export const DISCOVERY_OVERLAP = 2;

export interface ReadyHost {
  address: string;
  family: 4 | 6;
  found: Found;
}

export interface DiscoveryStageOptions {
  addresses: Iterator<{ address: string; family: 4 | 6 }>;
  mode: "auto" | "connect" | "none";
  raw: RawDiscovery | undefined;
  /** Probes a second. */
  rate: number;
  skip?: ReadonlySet<string>;
  names: ReadonlyMap<string, string[]>;
  queue: HostQueue<ReadyHost>;
  scanWide: RttEstimator;
  signal: AbortSignal;
  summary: ScanSummary;
  /** A host reported down without port checks. */
  finish: (host: HostResult) => void;
}

type Sweep = { batch: { address: string; family: 4 | 6 }[]; answered: Promise<SweepResult> };

/** Runs discovery to the end of the targets (or the abort), then ends the queue. */
export async function runDiscovery(o: DiscoveryStageOptions): Promise<void> {
  const chunk: { address: string; family: 4 | 6 }[] = [];
  const sweeps: Sweep[] = [];
  const pace = { active: 0, activeSince: 0, nextSendAt: 0 };
  const flush = async () => {
    startSweep(o, chunk.splice(0), sweeps, pace);
    while (sweeps.length >= DISCOVERY_OVERLAP) await takeSweep(o, sweeps);
  };
  for (;;) {
    if (o.signal.aborted) break;
    const next = o.addresses.next();
    if (next.done) break;
    const { address, family } = next.value;
    if (o.skip?.has(address)) {
      o.summary.done++;
      o.summary.skipped++;
      continue;
    }
    if (o.mode === "none") {
      o.queue.put({ address, family, found: { reason: "user-set" } });
      await o.queue.room();
      continue;
    }
    chunk.push({ address, family });
    if (chunk.length >= DISCOVERY_CHUNK) await flush();
  }
  startSweep(o, chunk.splice(0), sweeps, pace);
  while (sweeps.length > 0 && !o.signal.aborted) await takeSweep(o, sweeps);
  o.queue.end();
}

/** Starts a sweep of `batch` (no earlier than the previous sweep's probes are out); without raw discovery, a sweep that found nothing. */
function startSweep(o: DiscoveryStageOptions, batch: { address: string; family: 4 | 6 }[], sweeps: Sweep[], pace: { active: number; activeSince: number; nextSendAt: number }): void {
  if (batch.length === 0) return;
  const sweep = o.raw?.sweep;
  if (!sweep) {
    sweeps.push({ batch, answered: Promise.resolve({ answered: new Map() }) });
    return;
  }
  const answered = (async () => {
    const wait = pace.nextSendAt - performance.now();
    pace.nextSendAt = Math.max(pace.nextSendAt, performance.now()) + (batch.length * 1000) / o.rate;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Discovery time: the wall time with at least one sweep running.
    if (pace.active++ === 0) pace.activeSince = performance.now();
    try {
      return await sweep(
        batch.map((h) => h.address),
        Math.max(500, o.scanWide.timeoutMs()),
      );
    } finally {
      if (--pace.active === 0) o.summary.discoveryMs += performance.now() - pace.activeSince;
    }
  })();
  answered.catch(() => undefined); // awaited in order by takeSweep
  sweeps.push({ batch, answered });
}

/** The oldest sweep's hosts, in address order: up ones to the port checks, silent ones down or to connect discovery. */
async function takeSweep(o: DiscoveryStageOptions, sweeps: Sweep[]): Promise<void> {
  const sweep = sweeps.shift();
  if (!sweep) return;
  const { answered, v6Failed } = await sweep.answered;
  if (v6Failed && !o.summary.discoveryNote) o.summary.discoveryNote = `IPv6 hosts are discovered by connect to 80 and 443, inside the budget (${v6Failed})`;
  for (const h of sweep.batch) {
    if (o.signal.aborted) return;
    const hit = answered.get(h.address);
    if (hit) {
      o.scanWide.sample(hit.rttMs);
      o.summary.discovered = (o.summary.discovered ?? 0) + 1;
      o.queue.put({ ...h, found: hit });
    } else if (o.raw?.mode === "raw" && !(h.family === 6 && v6Failed)) o.finish(downHost(h.address, h.family, o.names.get(h.address), "no-response"));
    // Connect discovery: no raw sockets, a ping socket's silent host, or IPv6 that could not be swept.
    else o.queue.put({ ...h, found: undefined });
    await o.queue.room();
  }
}
