/**
 * `halfopen simulate`: does the half-open limit, or patching it away, help?
 * A discrete-event scan (core/sim/scan-sim.ts) and a population worm model
 * (core/sim/worm-sim.ts) under a policy, compared side by side; a table, or
 * `--json`. Pure computation: no root, no network.
 */
import type { Command } from "commander";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { collect, parseIntOption, parseSecondsOption } from "../options.js";

export const SCAN_POLICIES = ["none", "xp", "xp-rate", "halfopen"] as const;
export const WORM_POLICIES = ["none", "xp", "williamson"] as const;
export const P2P_POLICIES = ["none", "xp"] as const;

export interface SimulateOptions {
  policy: string;
  compare?: string[];
  limit: number;
  json?: boolean;
  seed: number;
}

export interface ScanOptions extends SimulateOptions {
  targets: number;
  alive: number;
  rtt: number;
  timeout: number;
  programTimeout?: number;
  retries: number;
  threads?: number;
  releasePerSecond: number;
}

export interface P2pOptions extends SimulateOptions {
  peers: number;
  dead: number;
  rtt: number;
  timeout: number;
  want: number;
  concurrency?: number;
  peerRate: number;
  cap: number;
  duration: number;
}

export interface WormOptions extends SimulateOptions {
  vulnerable: number;
  scanRate: number;
  share: number;
  initial: number;
  duration: number;
  xpTimeout: number;
}

/** A number in [min, max] (shares, rates). */
function parseNumber(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${v}": expected a number from ${min} to ${max}`);
    return n;
  };
}

function policyOf(names: readonly string[]): (v: string) => string {
  return (v) => {
    if (!names.includes(v)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use policy "${v}": expected one of ${names.join(", ")}`);
    return v;
  };
}

const SCAN_EXAMPLE = `
Example:
  $ halfopen simulate scan --targets 500 --alive 0.1 --program-timeout 1 \
      --policy xp --compare halfopen,none
  halfopen: scan of 500 targets (10% alive), timeout 1s, program timeout 1s, r…
  POLICY         TIME   RATE/S FOUND MISSED  WAIT p50    p99  4226 PEAK
  xp             1.0s    500.0     1     58       1.0s   1.0s     1   10
  halfopen      45.0s     11.1    59      0      21.1s  43.1s     1   10
  none           1.0s    500.0    59      0       0.0s   0.0s     0  500

Policies: none; xp (at most --limit in flight host-wide, FIFO, a freed slot
to the next); xp-rate (the same, released at --release-per-second);
halfopen (the limiter's budget in the program: the program's timer starts
when its slot is granted). With --program-timeout, a program under none or
xp gives up that long after connect(), queue wait included: live hosts
waiting in XP's queue are then reported dead.`;

const WORM_EXAMPLE = `
Example:
  $ halfopen simulate worm --vulnerable 300000 --scan-rate 10 --policy none --compare xp
Policies: none; xp (at most --limit probes in flight, each to a silent
address holding its slot --xp-timeout seconds: limit/timeout probes per
second); williamson (one new destination a second). --share is the share of
hosts that run the policy.`;

export function registerSimulate(program: Command): void {
  const simulate = program.command("simulate").description("simulate a scan or a worm under a half-open policy (the XP limit, none, halfopen's budget, Williamson's throttle) and compare");
  const common = (c: Command, policies: readonly string[], policyDefault: string) =>
    c
      .option("--policy <name>", `policy: ${policies.join(", ")}`, policyOf(policies), policyDefault)
      .option("--compare <name>", "also run this policy (repeat or comma-separate)", collect(policyOf(policies)))
      .option("-l, --limit <n>", "half-open attempts allowed at once (xp, xp-rate, halfopen)", parseIntOption("--limit", 1, 1_000_000), 10)
      .option("--seed <n>", "random seed (which targets are alive; the worm's draws)", parseIntOption("--seed", 0), 1)
      .option("--json", "write one JSON object");
  common(simulate.command("scan").description("a connect scan of --targets addresses"), SCAN_POLICIES, "xp")
    .option("--targets <n>", "addresses to scan", parseIntOption("--targets", 0, 10_000_000), 256)
    .option("--alive <share>", "share of targets that answer, 0 to 1", parseNumber("--alive", 0, 1), 0.1)
    .option("--rtt <ms>", "round-trip time to a live host, ms", parseNumber("--rtt", 0, 3_600_000), 10)
    .option("--timeout <seconds>", "how long an unanswered connect holds its slot", parseSecondsOption("--timeout", 0.001, 86_400), 1)
    .option("--program-timeout <seconds>", "the program gives up this long after connect() (none, xp: queue wait included)", parseSecondsOption("--program-timeout", 0.001, 86_400))
    .option("--retries <n>", "attempts again after a timeout", parseIntOption("--retries", 0, 100), 0)
    .option("--threads <n>", "connects the program makes at once (default: all)", parseIntOption("--threads", 1, 10_000_000))
    .option("--release-per-second <r>", "xp-rate: queued attempts released per second", parseNumber("--release-per-second", 0.001, 1_000_000), 10)
    .addHelpText("after", SCAN_EXAMPLE)
    .action(async (opts: ScanOptions) => {
      const { runScanSimulation } = await import("./run.js");
      runScanSimulation(opts);
    });
  common(simulate.command("p2p").description("a P2P client filling its peer set, some peers dead"), P2P_POLICIES, "xp")
    .option("--peers <n>", "peers in the list", parseIntOption("--peers", 0, 10_000_000), 200)
    .option("--dead <share>", "share of peers that never answer, 0 to 1", parseNumber("--dead", 0, 1), 0.3)
    .option("--rtt <ms>", "round-trip time to a live peer, ms", parseNumber("--rtt", 0, 3_600_000), 50)
    .option("--timeout <seconds>", "how long a connect to a dead peer holds its slot (XP: 21)", parseSecondsOption("--timeout", 0.001, 86_400), 21)
    .option("--want <n>", "peers the client keeps connected", parseIntOption("--want", 1, 1_000_000), 40)
    .option("--concurrency <n>", "the client's own connects in flight (uTorrent: 8)", parseIntOption("--concurrency", 1, 1_000_000))
    .option("--peer-rate <KBps>", "upload of one peer to the client, KB/s", parseNumber("--peer-rate", 0, 1e9), 10)
    .option("--cap <KBps>", "the client's download line, KB/s", parseNumber("--cap", 0, 1e9), 200)
    .option("--duration <seconds>", "simulated time", parseSecondsOption("--duration", 1, 31_536_000), 300)
    .action(async (opts: P2pOptions) => {
      const { runP2pSimulation } = await import("./run.js");
      runP2pSimulation(opts);
    });
  common(simulate.command("worm").description("a random-scanning worm over a population"), WORM_POLICIES, "none")
    .option("--vulnerable <n>", "vulnerable hosts", parseIntOption("--vulnerable", 1, 2 ** 32), 300_000)
    .option("--scan-rate <r>", "probes per second of an infected host", parseNumber("--scan-rate", 0.0001, 1_000_000), 10)
    .option("--share <s>", "share of hosts that run the policy, 0 to 1", parseNumber("--share", 0, 1), 1)
    .option("--initial <n>", "hosts infected at the start", parseIntOption("--initial", 1, 1_000_000), 10)
    .option("--duration <hours>", "simulated time", parseNumber("--duration", 0.001, 10_000), 24)
    .option("--xp-timeout <seconds>", "xp: how long a probe to a silent address holds its slot (XP: 3 + 6 + 12 = 21 s)", parseSecondsOption("--xp-timeout", 0.001, 3600), 21)
    .addHelpText("after", WORM_EXAMPLE)
    .action(async (opts: WormOptions) => {
      const { runWormSimulation } = await import("./run.js");
      runWormSimulation(opts);
    });
}
