/**
 * What `halfopen simulate …` does once its options are parsed (command.ts):
 * run each policy, print a table (80 columns) or one JSON object, and draw
 * the curves with --plot.
 */
import { type BrowseSimResult, simulateBrowse } from "../../core/sim/browse-sim.js";
import type { ConnectionEvent } from "../../core/events.js";
import { type PolicyName, type SimPolicy, policyFromName } from "../../core/sim/gate.js";
import { type P2pSimResult, simulateP2p } from "../../core/sim/p2p-sim.js";
import { type ScanSimResult, simulateScan } from "../../core/sim/scan-sim.js";
import { attemptsFromEvents, simulateTrace } from "../../core/sim/trace-sim.js";
import { type WormPolicy, type WormSimResult, simulateWorm } from "../../core/sim/worm-sim.js";
import { RecordDecoder } from "../../core/record-format.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { cols, fit, forTerminal, padCells } from "../sanitize.js";
import type { BrowseOptions, P2pOptions, ReplayOptions, ScanOptions, SimulateOptions, WormOptions } from "./command.js";
import type { LineChart } from "./plot.js";

const policies = (o: { policy: PolicyName; compare?: PolicyName[] }) => [...new Set([o.policy, ...(o.compare ?? [])])];
const policyOf = (name: PolicyName, o: SimulateOptions): SimPolicy => policyFromName(name, o);
const sec = (ms: number) => (ms >= 100_000 ? `${Math.round(ms / 1000)}s` : `${(ms / 1000).toFixed(1)}s`);
const msOrSec = (ms: number) => (ms < 1000 ? `${Math.round(ms)}ms` : sec(ms));
const hours = (ms?: number) => (ms === undefined ? "-" : `${(ms / 3_600_000).toFixed(1)}h`);
const pad = (s: string, n: number) => s.padStart(n);

/** Errors of the model's own checks (a RangeError) as one usage line. */
function guarded<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof RangeError) throw new HalfOpenError(ErrorCodes.BAD_USAGE, e.message);
    throw e;
  }
}

async function output(o: SimulateOptions, json: () => unknown, table: () => string[], chart: () => LineChart): Promise<void> {
  if (o.plot !== undefined) {
    const { writePlot } = await import("./plot.js");
    await writePlot(o.plot, chart());
  }
  if (o.json) process.stdout.write(`${JSON.stringify(json())}\n`);
  else process.stdout.write(`${[...table(), ...(o.plot === undefined ? [] : [fit(`halfopen: plot written to ${o.plot}`, cols())])].join("\n")}\n`);
}

export async function runScanSimulation(o: ScanOptions): Promise<void> {
  const spec = {
    targets: o.targets,
    alive: o.alive,
    rttMs: o.rtt,
    timeoutMs: o.timeout * 1000,
    retries: o.retries,
    seed: o.seed,
    ...(o.programTimeout === undefined ? {} : { programTimeoutMs: o.programTimeout * 1000 }),
    ...(o.threads === undefined ? {} : { threads: o.threads }),
    ...(o.rttMax === undefined ? {} : { rttMaxMs: o.rttMax }),
    ...(o.discovery === undefined ? {} : { discovery: { timeoutMs: o.discovery * 1000 } }),
  };
  const results: (ScanSimResult & { completionSeconds: number })[] = policies(o).map((name) => {
    const r = guarded(() => simulateScan({ ...spec, policy: policyOf(name, o) }));
    return { ...r, completionSeconds: r.completionMs / 1000 };
  });
  const { thin } = await import("./plot.js");
  await output(
    o,
    () => ({ type: "simulate", workload: "scan", spec, results: results.map((r) => ({ ...r, progress: thin(r.progress, 200) })) }),
    () => [
      fit(
        `halfopen: scan of ${o.targets} targets (${Math.round(o.alive * 100)}% alive), timeout ${o.timeout}s${o.programTimeout === undefined ? "" : `, program timeout ${o.programTimeout}s`}, retries ${o.retries}${o.discovery === undefined ? "" : `, ping first (${o.discovery}s)`}`,
        cols(),
      ),
      "POLICY          TIME   RATE/S FOUND MISSED  WAIT p50    p99  4226 PEAK",
      ...results.map(
        (r) =>
          `${r.policy.kind.padEnd(11)} ${pad(sec(r.completionMs), 8)} ${pad(r.targetsPerSecond.toFixed(1), 8)} ${pad(String(r.found), 5)} ${pad(String(r.missed), 6)} ${pad(sec(r.queueDelayMs.p50), 10)} ${pad(sec(r.queueDelayMs.p99), 6)} ${pad(String(r.limitEvents), 5)} ${pad(String(r.maxInFlight), 4)}`,
      ),
    ],
    () => ({
      title: `Scan of ${o.targets} targets, ${Math.round(o.alive * 100)}% alive`,
      subtitle: `halfopen simulate scan; timeout ${o.timeout} s${o.programTimeout === undefined ? "" : `, program timeout ${o.programTimeout} s`}`,
      x: { label: "time (s)" },
      y: { label: "targets with a result" },
      step: true,
      series: results.map((r) => ({ name: r.policy.kind, points: thin(r.progress).map((p) => ({ x: p.t / 1000, y: p.done })) })),
    }),
  );
}

function wormPolicy(name: PolicyName, o: WormOptions): WormPolicy {
  switch (name) {
    case "xp":
    case "per-process":
    case "halfopen":
      return { kind: name, limit: o.limit, timeoutMs: o.xpTimeout * 1000 };
    case "xp-rate":
      return { kind: "xp-rate", limit: o.limit, releasePerSecond: o.releasePerSecond };
    default:
      return { kind: name };
  }
}

export async function runWormSimulation(o: WormOptions): Promise<void> {
  const { thin } = await import("./plot.js");
  const results: (WormSimResult & { policy: WormPolicy })[] = policies(o).map((name) => {
    const policy = wormPolicy(name, o);
    const r = guarded(() => simulateWorm({
        vulnerable: o.vulnerable,
        scanRate: o.scanRate,
        share: o.share,
        initialInfected: o.initial,
        policy,
        durationMs: o.duration * 3_600_000,
        seed: o.seed,
        probeTimeoutMs: o.xpTimeout * 1000,
        ...(o.threads === undefined ? {} : { threads: o.threads }),
      }));
    return { ...r, policy, series: thin(r.series, 200) };
  });
  await output(
    o,
    () => ({ type: "simulate", workload: "worm", spec: { vulnerable: o.vulnerable, scanRate: o.scanRate, threads: o.threads, share: o.share, initialInfected: o.initial, durationHours: o.duration }, results }),
    () => [
      fit(`halfopen: worm, ${o.vulnerable} vulnerable hosts, ${Number(o.scanRate.toFixed(3))} probes/s, policy on ${Math.round(o.share * 100)}% of hosts, ${o.duration}h`, cols()),
      "POLICY       PROBES/S   INFECTED   50% AT   90% AT  K/HOUR (FIT) K (FORMULA)",
      ...results.map(
        (r) =>
          `${r.policy.kind.padEnd(11)} ${pad(r.limitedRate.toFixed(2), 9)} ${pad(String(r.infected), 10)} ${pad(hours(r.halfAtMs), 8)} ${pad(hours(r.ninetyAtMs), 8)} ${pad(r.fittedKPerHour === undefined ? "-" : r.fittedKPerHour.toFixed(2), 13)} ${pad(r.formulaKPerHour.toFixed(2), 11)}`,
      ),
    ],
    () => ({
      title: `Worm over ${o.vulnerable.toLocaleString("en")} vulnerable hosts, ${Number(o.scanRate.toFixed(3))} probes/s`,
      subtitle: `halfopen simulate worm; policy on ${Math.round(o.share * 100)}% of hosts`,
      x: { label: "time (hours)" },
      y: { label: "infected hosts" },
      series: results.map((r) => ({ name: r.policy.kind, points: r.series.map((p) => ({ x: p.t / 3_600_000, y: p.infected })) })),
    }),
  );
}

export async function runP2pSimulation(o: P2pOptions): Promise<void> {
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
  const results: P2pSimResult[] = policies(o).map((name) => guarded(() => simulateP2p({ ...spec, policy: policyOf(name, o) })));
  await output(
    o,
    () => ({ type: "simulate", workload: "p2p", spec, results }),
    () => [
      fit(`halfopen: P2P client, ${o.peers} peers (${Math.round(o.dead * 100)}% dead), wants ${o.want}, ${o.peerRate} KB/s each, line ${o.cap} KB/s, ${o.duration}s`, cols()),
      "POLICY      CONNECTED  FULL RATE AT   MEAN KB/S   DOWNLOADED",
      ...results.map(
        (r) => `${r.policy.kind.padEnd(11)} ${pad(String(r.connected), 9)} ${pad(r.fullRateAtMs === undefined ? "never" : sec(r.fullRateAtMs), 13)} ${pad(r.meanRateKBs.toFixed(1), 11)} ${pad(`${Math.round(r.downloadedKB)} KB`, 12)}`,
      ),
    ],
    () => ({
      title: `P2P download rate, ${o.peers} peers (${Math.round(o.dead * 100)}% dead)`,
      subtitle: `halfopen simulate p2p; ${o.peerRate} KB/s per peer, line ${o.cap} KB/s${o.concurrency === undefined ? "" : `, ${o.concurrency} connects of its own`}`,
      x: { label: "time (s)" },
      y: { label: "download rate (KB/s)" },
      step: true,
      series: results.map((r) => ({ name: r.policy.kind, points: [...r.rate, { t: o.duration * 1000, kbs: r.rate[r.rate.length - 1]?.kbs ?? 0 }].map((p) => ({ x: p.t / 1000, y: p.kbs })) })),
    }),
  );
}

export async function runBrowseSimulation(o: BrowseOptions): Promise<void> {
  const spec = {
    pages: o.pages,
    thinkMs: o.think * 1000,
    hostsPerPage: o.hosts,
    connectsPerHost: o.connectsPerHost,
    repeat: o.repeat,
    popularHosts: o.popular,
    broken: o.broken,
    rttMinMs: o.rttMin,
    rttMaxMs: o.rttMax,
    timeoutMs: o.timeout * 1000,
    seed: o.seed,
  };
  const results: BrowseSimResult[] = policies(o).map((name) => guarded(() => simulateBrowse({ ...spec, policy: policyOf(name, o) })));
  await output(
    o,
    () => ({ type: "simulate", workload: "browse", spec, results }),
    () => [
      fit(`halfopen: browsing, ${o.pages} pages, ${o.hosts} hosts × ${o.connectsPerHost} connects each, ${Math.round(o.broken * 100)}% with a dead host`, cols()),
      "POLICY      LOAD p50    p90    p99   MEAN  DELAYED  WAIT p99  4226 PEAK",
      ...results.map(
        (r) =>
          `${r.policy.kind.padEnd(11)} ${pad(msOrSec(r.pageLoadMs.p50), 8)} ${pad(msOrSec(r.pageLoadMs.p90), 6)} ${pad(msOrSec(r.pageLoadMs.p99), 6)} ${pad(msOrSec(r.meanPageLoadMs), 6)} ${pad(String(r.pagesDelayed), 8)} ${pad(msOrSec(r.queueDelayMs.p99), 9)} ${pad(String(r.limitEvents), 5)} ${pad(String(r.maxInFlight), 4)}`,
      ),
    ],
    () => ({
      title: `Page load times, ${o.pages} pages, ${Math.round(o.broken * 100)}% with a dead host`,
      subtitle: "halfopen simulate browse; share of pages loaded within the time",
      x: { label: "page load (s)", scale: "log" },
      y: { label: "share of pages" },
      step: true,
      series: results.map((r) => ({ name: r.policy.kind, points: r.pageLoadCurve.map((p) => ({ x: p.value / 1000, y: p.q })) })),
    }),
  );
}

/** Lines a recording may have for `simulate replay`: its events are held in memory (a few hundred bytes each). */
const MAX_REPLAY_LINES = 5_000_000;

/** The events of a record file, read line by line with bounds (line-file.ts); a file that cannot be read is a clear error. */
async function readRecordEvents(file: string): Promise<{ events: ConnectionEvent[]; end?: number; host?: string }> {
  const { readLines } = await import("../../platform/line-file.js");
  const decoder = new RecordDecoder();
  const events: ConnectionEvent[] = [];
  let end: number | undefined;
  for await (const line of readLines(file, { what: "record", maxLineBytes: 1024 * 1024, maxLines: MAX_REPLAY_LINES })) {
    let items;
    try {
      items = decoder.line(line.text);
    } catch (e) {
      if (line.terminated) throw e;
      break; // a torn last line (a recording cut short) is left out
    }
    for (const item of items) {
      if (item.kind === "event") events.push(item.event);
      else if (item.kind === "end") end = item.time;
    }
  }
  if (!decoder.header) throw new HalfOpenError(ErrorCodes.BAD_RECORD, `Cannot read the record "${file}": it is empty`);
  return { events, ...(end === undefined ? {} : { end }), ...(decoder.header.host === undefined ? {} : { host: decoder.header.host }) };
}

export async function runReplaySimulation(file: string, o: ReplayOptions): Promise<void> {
  const { events, end } = await readRecordEvents(file);
  const attempts = attemptsFromEvents(events, end);
  const results = policies(o).map((name) => guarded(() => simulateTrace(attempts, policyOf(name, o))));
  const first = results[0];
  await output(
    o,
    () => ({ type: "simulate", workload: "replay", file, attempts: attempts.length, results: results.map((r) => ({ ...r, processes: r.processes.slice(0, o.top) })) }),
    () => {
      const lines = [
        fit(`halfopen: replay of ${file}: ${attempts.length} attempts by ${first?.processes.length ?? 0} processes, peak ${first?.peakInFlight.recorded ?? 0} half-open`, cols()),
        "POLICY       WAITED  WAIT p50    p99    max  4226  PEAK",
        ...results.map(
          (r) =>
            `${r.policy.kind.padEnd(11)} ${pad(String(r.waited), 7)} ${pad(msOrSec(r.queueDelayMs.p50), 9)} ${pad(msOrSec(r.queueDelayMs.p99), 6)} ${pad(msOrSec(r.queueDelayMs.max), 6)} ${pad(String(r.limitEvents), 5)} ${pad(String(r.peakInFlight.simulated), 5)}`,
        ),
      ];
      for (const r of results) {
        lines.push("", `${r.policy.kind}: by process`, "     PID NAME             ATTEMPTS WAITED  WAIT p99    max  LAST END (RECORDED)");
        for (const p of r.processes.slice(0, o.top)) {
          lines.push(
            `${pad(String(p.pid), 8)} ${padCells(fit(forTerminal(p.name), 16), 16)} ${pad(String(p.attempts), 8)} ${pad(String(p.waited), 6)} ${pad(msOrSec(p.queueDelayMs.p99), 9)} ${pad(msOrSec(p.queueDelayMs.max), 6)} ${pad(`${sec(p.lastEndMs.simulated)} (${sec(p.lastEndMs.recorded)})`, 20)}`,
          );
        }
      }
      return lines;
    },
    () => ({
      title: `Queue delays of a recorded capture (${attempts.length} attempts)`,
      subtitle: `halfopen simulate replay ${file.split("/").pop() ?? file}; share of attempts started within the delay`,
      x: { label: "wait for the policy (s; under 1 ms drawn at 1 ms)", scale: "log" },
      y: { label: "share of attempts" },
      step: true,
      series: results.map((r) => ({ name: r.policy.kind, points: r.queueDelayCurve.map((p) => ({ x: Math.max(p.value, 1) / 1000, y: p.q })) })),
    }),
  );
}
