/**
 * What `halfopen simulate scan|worm` does once its options are parsed
 * (command.ts): run each policy, print a table (80 columns) or one JSON
 * object.
 */
import { type ScanPolicy, type ScanSimResult, simulateScan } from "../../core/sim/scan-sim.js";
import { type WormPolicy, type WormSimResult, simulateWorm } from "../../core/sim/worm-sim.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { fit } from "../sanitize.js";
import type { P2pOptions, ScanOptions, WormOptions } from "./command.js";
import { type P2pPolicy, simulateP2p } from "../../core/sim/p2p-sim.js";

const policies = (o: { policy: string; compare?: string[] }) => [...new Set([o.policy, ...(o.compare ?? [])])];
const sec = (ms: number) => (ms >= 100_000 ? `${Math.round(ms / 1000)}s` : `${(ms / 1000).toFixed(1)}s`);
const hours = (ms?: number) => (ms === undefined ? "-" : `${(ms / 3_600_000).toFixed(1)}h`);

/** Errors of the model's own checks (a RangeError) as one usage line. */
function guarded<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof RangeError) throw new HalfOpenError(ErrorCodes.BAD_USAGE, e.message);
    throw e;
  }
}

export function runScanSimulation(o: ScanOptions): void {
  const spec = {
    targets: o.targets,
    alive: o.alive,
    rttMs: o.rtt,
    timeoutMs: o.timeout * 1000,
    retries: o.retries,
    seed: o.seed,
    ...(o.programTimeout === undefined ? {} : { programTimeoutMs: o.programTimeout * 1000 }),
    ...(o.threads === undefined ? {} : { threads: o.threads }),
  };
  const results: (ScanSimResult & { completionSeconds: number })[] = policies(o).map((name) => {
    const policy: ScanPolicy = name === "none" ? { kind: "none" } : name === "xp-rate" ? { kind: "xp-rate", limit: o.limit, releasePerSecond: o.releasePerSecond } : { kind: name as "xp" | "halfopen", limit: o.limit };
    const r = guarded(() => simulateScan({ ...spec, policy }));
    return { ...r, completionSeconds: r.completionMs / 1000 };
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ type: "simulate", workload: "scan", spec, results })}\n`);
    return;
  }
  const lines = [
    fit(`halfopen: scan of ${o.targets} targets (${Math.round(o.alive * 100)}% alive), timeout ${o.timeout}s${o.programTimeout === undefined ? "" : `, program timeout ${o.programTimeout}s`}, retries ${o.retries}`, 79),
    "POLICY         TIME   RATE/S FOUND MISSED  WAIT p50    p99  4226 PEAK",
  ];
  for (const r of results) {
    const name = r.policy.kind;
    lines.push(
      `${name.padEnd(10)} ${sec(r.completionMs).padStart(8)} ${r.targetsPerSecond.toFixed(1).padStart(8)} ${String(r.found).padStart(5)} ${String(r.missed).padStart(6)} ${sec(r.queueDelayMs.p50).padStart(10)} ${sec(r.queueDelayMs.p99).padStart(6)} ${String(r.limitEvents).padStart(5)} ${String(r.maxInFlight).padStart(4)}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

export function runWormSimulation(o: WormOptions): void {
  const results = policies(o).map((name) => {
    const policy: WormPolicy = name === "xp" ? { kind: "xp", limit: o.limit, timeoutMs: o.xpTimeout * 1000 } : { kind: name as "none" | "williamson" };
    const r: WormSimResult = guarded(() =>
      simulateWorm({ vulnerable: o.vulnerable, scanRate: o.scanRate, share: o.share, initialInfected: o.initial, policy, durationMs: o.duration * 3_600_000, seed: o.seed }),
    );
    // At most 200 points of the curve: enough to plot it.
    const every = Math.max(1, Math.ceil(r.series.length / 200));
    return { ...r, policy, series: r.series.filter((_, i) => i % every === 0 || i === r.series.length - 1) };
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ type: "simulate", workload: "worm", spec: { vulnerable: o.vulnerable, scanRate: o.scanRate, share: o.share, initialInfected: o.initial, durationHours: o.duration }, results })}\n`);
    return;
  }
  const lines = [
    fit(`halfopen: worm, ${o.vulnerable} vulnerable hosts, ${o.scanRate} probes/s, policy on ${Math.round(o.share * 100)}% of hosts, ${o.duration}h`, 79),
    "POLICY      PROBES/S   INFECTED   50% AT   90% AT  K/HOUR (FIT)  K (FORMULA)",
  ];
  for (const r of results) {
    lines.push(
      `${r.policy.kind.padEnd(10)} ${r.limitedRate.toFixed(2).padStart(9)} ${String(r.infected).padStart(10)} ${hours(r.halfAtMs).padStart(8)} ${hours(r.ninetyAtMs).padStart(8)} ${(r.fittedKPerHour === undefined ? "-" : r.fittedKPerHour.toFixed(2)).padStart(13)} ${r.formulaKPerHour.toFixed(2).padStart(12)}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

export function runP2pSimulation(o: P2pOptions): void {
  const spec = {
    peers: o.peers,
    dead: o.dead,
    rttMs: o.rtt,
    timeoutMs: o.timeout * 1000,
    wantConnections: o.want,
    peerRateKBs: o.peerRate,
    capKBs: o.cap,
    durationMs: o.duration * 1000,
    seed: o.seed,
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
  };
  const results = policies(o).map((name) => {
    const policy: P2pPolicy = name === "xp" ? { kind: "xp", limit: o.limit } : { kind: "none" };
    return guarded(() => simulateP2p({ ...spec, policy }));
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ type: "simulate", workload: "p2p", spec, results })}\n`);
    return;
  }
  const lines = [
    fit(`halfopen: P2P client, ${o.peers} peers (${Math.round(o.dead * 100)}% dead), wants ${o.want}, ${o.peerRate} KB/s each, line ${o.cap} KB/s, ${o.duration}s`, 79),
    "POLICY     CONNECTED  FULL RATE AT   MEAN KB/S   DOWNLOADED",
  ];
  for (const r of results) {
    lines.push(`${r.policy.kind.padEnd(10)} ${String(r.connected).padStart(9)} ${(r.fullRateAtMs === undefined ? "never" : sec(r.fullRateAtMs)).padStart(13)} ${r.meanRateKBs.toFixed(1).padStart(11)} ${`${Math.round(r.downloadedKB)} KB`.padStart(12)}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
