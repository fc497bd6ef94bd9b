/**
 * How far a scan is, in probes rather than hosts, so the estimate moves from
 * the first second and stays steady: a host's ports are most of its work, and
 * hosts finish in bursts. Work: one unit per address for discovery (none with
 * -Pn), plus one per port of every host found up (all of them with -Pn, else
 * the fraction found up so far, applied to the addresses not done yet).
 * Retries are extra work not in the total, so they do not count as progress.
 * Pure: the caller passes the time.
 */
import type { ScanSummary } from "./model.js";

export interface ScanProgress {
  /** 0 to 1 (held under 1 until the scan ends). */
  fraction: number;
  /** Milliseconds left at the rate so far; undefined until there is a rate. */
  etaMs: number | undefined;
  /** Probes (port connects) a second so far. */
  probesPerSecond: number;
}

export function scanProgress(s: Pick<ScanSummary, "total" | "done" | "skipped" | "up" | "down" | "discovered" | "probes" | "retries" | "startedAt">, ports: number, discovery: boolean, nowMs: number): ScanProgress {
  const elapsed = Math.max(1, nowMs - s.startedAt);
  const total = Math.max(0, s.total - s.skipped);
  const done = Math.max(0, s.done - s.skipped);
  // Up so far: what the sweeps found (ahead of the port checks), else the hosts done; before either, all of them.
  const found = s.discovered ?? 0;
  const upFraction = !discovery ? 1 : found > 0 ? found / (found + s.down) : done > 0 ? Math.min(1, s.up / done) : 1;
  const perAddress = (discovery ? 1 : 0) + upFraction * ports;
  const work = Math.max(1, total * perAddress, done * (discovery ? 1 : 0) + Math.max(0, s.probes - s.retries));
  const doneWork = Math.min(work, (discovery ? done : 0) + Math.max(0, s.probes - s.retries));
  // Before the targets are planned the total is 0: nothing is known yet.
  const fraction = total === 0 ? 0 : Math.min(0.999, doneWork / work);
  const rate = doneWork / elapsed;
  return { fraction, etaMs: total > 0 && rate > 0 && doneWork > 0 ? (work - doneWork) / rate : undefined, probesPerSecond: (s.probes * 1000) / elapsed };
}

/** `1h02m`, `4m05s`, `12s`: a duration for a progress line. */
export function shortDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
