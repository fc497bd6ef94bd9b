/**
 * `halfopen simulate`: does the half-open limit, or patching it away, help?
 * Five workloads (core/sim/): a scan, a P2P client, web browsing, a worm over
 * a population, and a capture recorded with `watch --record`, each under a
 * policy (core/sim/gate.ts) and compared side by side; a table, `--json`,
 * and `--plot FILE.svg`. Presets set the article's and the vendor's cases.
 * Pure computation: no root, no network.
 */
import type { Command } from "commander";
import { POLICY_NAMES, type PolicyName } from "../../core/sim/gate.js";
import { parseDuration } from "../../core/duration.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { collect, parseIntOption, parseSecondsOption } from "../options.js";

export interface SimulateOptions {
  policy: PolicyName;
  compare?: PolicyName[];
  limit: number;
  releasePerSecond: number;
  pace?: number;
  json?: boolean;
  plot?: string;
  preset?: string;
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
  rttMax?: number;
  discovery?: number;
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
  threads?: number;
}

export interface BrowseOptions extends SimulateOptions {
  pages: number;
  think: number;
  hosts: number;
  connectsPerHost: number;
  repeat: number;
  popular: number;
  broken: number;
  rttMin: number;
  rttMax: number;
  timeout: number;
}

export interface ReplayOptions extends SimulateOptions {
  top: number;
}

type Preset = { about: string; values: Record<string, unknown> };

/** The article's and the vendor's cases (docs/does-the-limit-help.md). */
/**
 * Most targets `simulate scan` takes. Every target's attempt is an event in
 * the simulated clock and a ticket in the gate's queue (about 1 KB each with
 * every program thread started at once): 1,000,000 runs in about 1 GB of
 * heap; ten million did not fit in Node's default heap.
 */
export const MAX_SIM_TARGETS = 1_000_000;

export const PRESETS: Record<"scan" | "p2p" | "worm" | "browse", Record<string, Preset>> = {
  scan: {
    "closed-form": { about: "100 dead targets, 1 s timeout, no retries: ceil(k/N) × T", values: { targets: 100, alive: 0, timeout: 1, retries: 0, policy: "xp", compare: ["none"] } },
    vendor: {
      about: "the scanner vendor's case: a /24, 20% alive, 64 threads, a 1 s port-check timer from connect()",
      values: { targets: 254, alive: 0.2, rtt: 5, timeout: 21, programTimeout: 1, threads: 64, retries: 0, policy: "xp", compare: ["halfopen", "xp-rate", "none"] },
    },
    "vendor-advice": {
      about: "the vendor's advice: a 10 s timer, 10 at a time (10 addresses per 10 s)",
      values: { targets: 254, alive: 0.2, rtt: 5, timeout: 21, programTimeout: 10, threads: 10, retries: 0, policy: "xp", compare: ["halfopen", "none"] },
    },
  },
  p2p: {
    article: { about: "the article's P2P client: 8 connects of its own in flight (uTorrent), 30% dead peers", values: { peers: 200, dead: 0.3, timeout: 21, want: 40, concurrency: 8, peerRate: 10, cap: 200, policy: "xp", compare: ["none"] } },
    "no-client-limit": { about: "the same client with no limit of its own", values: { peers: 200, dead: 0.3, timeout: 21, want: 40, peerRate: 10, cap: 200, policy: "xp", compare: ["none"] } },
  },
  worm: {
    staniford: { about: "Staniford, Paxson, Weaver 2002: 300,000 vulnerable, 10 scans/s", values: { vulnerable: 300_000, scanRate: 10, initial: 10, duration: 24, policy: "none", compare: ["xp", "williamson", "credit"] } },
    "code-red": { about: "Code Red v2, July 2001: 359,104 hosts, 358 scans/min, one host at the start, 14 h", values: { vulnerable: 359_104, scanRate: 358 / 60, initial: 1, duration: 14, policy: "none", compare: ["xp"] } },
    "half-patched": { about: "staniford with the limit on half the hosts (the other half patched it away)", values: { vulnerable: 300_000, scanRate: 10, initial: 10, duration: 24, share: 0.5, policy: "none", compare: ["xp", "williamson"] } },
  },
  browse: {
    everyday: { about: "200 pages, 8 hosts each, 5% with a dead host", values: { pages: 200, policy: "xp", compare: ["none", "williamson", "credit"] } },
    "broken-sites": { about: "the same with a dead host on 30% of pages", values: { pages: 200, broken: 0.3, policy: "xp", compare: ["none", "williamson", "credit"] } },
  },
};

/** A number in [min, max] (shares, rates). */
function parseNumber(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${v}": expected a number from ${min} to ${max}`);
    return n;
  };
}

/**
 * `simulate worm --duration`, in hours internally. A duration (14h, 3d, 90m)
 * reads as everywhere else; a plain number keeps this option's old unit,
 * hours, with a notice, since `--duration 24` means seconds in `watch` and
 * `simulate scan`.
 */
function parseWormDuration(v: string): number {
  const plain = /^\s*\d+(?:\.\d+)?\s*$/.test(v);
  const hours = plain ? parseNumber("--duration", 0.001, 10_000)(v) : parseDuration("--duration", v) / 3_600_000;
  if (plain) process.stderr.write(`halfopen: --duration ${v.trim()} is read as hours in simulate worm (seconds in watch and simulate scan); write ${v.trim()}h to say so\n`);
  if (!(hours >= 0.001 && hours <= 10_000)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --duration "${v}": expected from 4s to 10000h (about 416 days)`);
  return hours;
}

function parsePolicy(v: string): PolicyName {
  if (!(POLICY_NAMES as readonly string[]).includes(v)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use policy "${v}": expected one of ${POLICY_NAMES.join(", ")}`);
  return v as PolicyName;
}

function parsePlot(v: string): string {
  if (!/\.svg$/i.test(v)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot plot to "${v}": the plot is an SVG file; name it FILE.svg`);
  return v;
}

/** Fills the options the user did not give from the preset's values. */
export function applyPreset<T extends SimulateOptions>(opts: T, cmd: Command, presets: Record<string, Preset>): T {
  if (opts.preset === undefined) return opts;
  const preset = presets[opts.preset];
  if (!preset) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use preset "${opts.preset}": expected one of ${Object.keys(presets).join(", ")}`);
  const out: Record<string, unknown> = { ...(opts as object) };
  for (const [key, value] of Object.entries(preset.values)) {
    const source = cmd.getOptionValueSource(key);
    if (source === undefined || source === "default") out[key] = value;
  }
  return out as T;
}

const presetHelp = (presets: Record<string, Preset>) => `\nPresets (--preset NAME; options you give win):\n${Object.entries(presets)
  .map(([name, p]) => `  ${name.padEnd(15)} ${p.about}`)
  .join("\n")}`;

const POLICY_HELP = `
Policies: none; xp (at most --limit in flight host-wide, FIFO, a freed slot
to the next); xp-rate (once --limit are in flight, queued attempts leave at
--release-per-second whatever is in flight); per-process (the xp rule per
process); halfopen (the limiter's budget in the program: its timer starts
when the slot is granted); williamson (Williamson's throttle: 5 recent
destinations pass, new ones leave a delay queue once a second); credit
(Schechter, Jung, Berger: 10 credits, a first contact costs 1 and earns 2 if
answered).`;

const SCAN_EXAMPLE = `
Example:
  $ halfopen simulate scan --targets 500 --alive 0.1 --program-timeout 1 \\
      --policy xp --compare halfopen,none
  halfopen: scan of 500 targets (10% alive), timeout 1s, program timeout 1s, r…
  POLICY          TIME   RATE/S FOUND MISSED  WAIT p50    p99  4226 PEAK
  xp              1.0s    500.0     1     58       1.0s   1.0s     1   10
  halfopen       45.0s     11.1    59      0      21.1s  43.1s     1   10
  none            1.0s    500.0    59      0       0.0s   0.0s     0  500

With --program-timeout, a program under an OS policy gives up that long
after connect(), queue wait included: live hosts waiting in XP's queue are
then reported dead.`;

export function registerSimulate(program: Command): void {
  const simulate = program
    .command("simulate")
    .description("simulate a scan, a P2P client, browsing, a worm or a recorded capture under a half-open policy (the XP limit, none, halfopen's budget, Williamson's throttle, credits) and compare");
  const common = <C extends Command>(c: C, policyDefault: PolicyName, presets?: Record<string, Preset>): C => {
    c.option("--policy <name>", `policy: ${POLICY_NAMES.join(", ")}`, parsePolicy, policyDefault)
      .option("--compare <name>", "also run this policy (repeat or comma-separate)", collect(parsePolicy))
      .option("-l, --limit <n>", "half-open attempts allowed at once (xp, xp-rate, per-process, halfopen)", parseIntOption("--limit", 1, 1_000_000), 10)
      .option("--release-per-second <r>", "xp-rate: queued attempts released per second", parseNumber("--release-per-second", 0.001, 1_000_000), 10)
      .option("--pace <r>", "halfopen: start queued attempts no faster than r per second (the limiter's releasePerSecond)", parseNumber("--pace", 0.001, 1_000_000))
      .option("--seed <n>", "random seed (the workload's draws)", parseIntOption("--seed", 0), 1)
      .option("--plot <file.svg>", "also draw the curves to an SVG file", parsePlot)
      .option("--json", "write one JSON object");
    if (presets) c.option("--preset <name>", `a preset: ${Object.keys(presets).join(", ")}`);
    c.addHelpText("after", POLICY_HELP + (presets ? presetHelp(presets) : ""));
    return c;
  };

  common(simulate.command("scan").description("a connect scan of --targets addresses"), "xp", PRESETS.scan)
    .option("--targets <n>", "addresses to scan", parseIntOption("--targets", 0, MAX_SIM_TARGETS), 256)
    .option("--alive <share>", "share of targets that answer, 0 to 1", parseNumber("--alive", 0, 1), 0.1)
    .option("--rtt <ms>", "round-trip time to a live host, ms", parseNumber("--rtt", 0, 3_600_000), 10)
    .option("--timeout <seconds>", "how long an unanswered connect holds its slot", parseSecondsOption("--timeout", 0.001, 86_400), 1)
    .option("--program-timeout <seconds>", "the program gives up this long after connect() (OS policies: queue wait included)", parseSecondsOption("--program-timeout", 0.001, 86_400))
    .option("--retries <n>", "attempts again after a timeout", parseIntOption("--retries", 0, 100), 0)
    .option("--threads <n>", "connects the program makes at once (default: all)", parseIntOption("--threads", 1, 10_000_000))
    .option("--rtt-max <ms>", "draw each live host's round trip from --rtt to this", parseNumber("--rtt-max", 0, 3_600_000))
    .option("--discovery <seconds>", "ping every target first with this timeout (no half-open slot); connect-scan only those that answer", parseSecondsOption("--discovery", 0.001, 3600))
    .addHelpText("after", SCAN_EXAMPLE)
    .action(async (opts: ScanOptions, cmd: Command) => {
      const { runScanSimulation } = await import("./run.js");
      await runScanSimulation(applyPreset(opts, cmd, PRESETS.scan));
    });

  common(simulate.command("p2p").description("a P2P client filling its peer set, some peers dead"), "xp", PRESETS.p2p)
    .option("--peers <n>", "peers in the list", parseIntOption("--peers", 0, 10_000_000), 200)
    .option("--dead <share>", "share of peers that never answer, 0 to 1", parseNumber("--dead", 0, 1), 0.3)
    .option("--rtt <ms>", "round-trip time to a live peer, ms", parseNumber("--rtt", 0, 3_600_000), 50)
    .option("--timeout <seconds>", "how long a connect to a dead peer holds its slot (XP: 21)", parseSecondsOption("--timeout", 0.001, 86_400), 21)
    .option("--want <n>", "peers the client keeps connected", parseIntOption("--want", 1, 1_000_000), 40)
    .option("--concurrency <n>", "the client's own connects in flight (uTorrent: 8)", parseIntOption("--concurrency", 1, 1_000_000))
    .option("--peer-rate <KBps>", "upload of one peer to the client, KB/s", parseNumber("--peer-rate", 0, 1e9), 10)
    .option("--cap <KBps>", "the client's download line, KB/s", parseNumber("--cap", 0, 1e9), 200)
    .option("--duration <seconds>", "simulated time", parseSecondsOption("--duration", 1, 31_536_000), 300)
    .action(async (opts: P2pOptions, cmd: Command) => {
      const { runP2pSimulation } = await import("./run.js");
      await runP2pSimulation(applyPreset(opts, cmd, PRESETS.p2p));
    });

  common(simulate.command("browse").description("web browsing: pages that connect to several hosts at once, now and then a dead one"), "xp", PRESETS.browse)
    .option("--pages <n>", "pages loaded", parseIntOption("--pages", 0, 1_000_000), 200)
    .option("--think <seconds>", "mean time between pages", parseSecondsOption("--think", 0.001, 86_400), 5)
    .option("--hosts <n>", "hosts a page connects to", parseIntOption("--hosts", 1, 1000), 8)
    .option("--connects-per-host <n>", "connects to each host", parseIntOption("--connects-per-host", 1, 100), 2)
    .option("--repeat <share>", "chance a host is one of the popular ones, 0 to 1", parseNumber("--repeat", 0, 1), 0.6)
    .option("--popular <n>", "popular hosts (CDNs, analytics)", parseIntOption("--popular", 1, 1_000_000), 20)
    .option("--broken <share>", "share of pages with a dead host, 0 to 1", parseNumber("--broken", 0, 1), 0.05)
    .option("--rtt-min <ms>", "shortest round-trip time, ms", parseNumber("--rtt-min", 0, 3_600_000), 20)
    .option("--rtt-max <ms>", "longest round-trip time, ms", parseNumber("--rtt-max", 0, 3_600_000), 120)
    .option("--timeout <seconds>", "how long a connect to a dead host holds its slot (XP: 21)", parseSecondsOption("--timeout", 0.001, 86_400), 21)
    .action(async (opts: BrowseOptions, cmd: Command) => {
      const { runBrowseSimulation } = await import("./run.js");
      await runBrowseSimulation(applyPreset(opts, cmd, PRESETS.browse));
    });

  common(simulate.command("worm").description("a random-scanning worm over a population"), "none", PRESETS.worm)
    .option("--vulnerable <n>", "vulnerable hosts", parseIntOption("--vulnerable", 1, 2 ** 32), 300_000)
    .option("--scan-rate <r>", "probes per second of an infected host", parseNumber("--scan-rate", 0.0001, 1_000_000), 10)
    .option("--share <s>", "share of hosts that run the policy, 0 to 1", parseNumber("--share", 0, 1), 1)
    .option("--initial <n>", "hosts infected at the start", parseIntOption("--initial", 1, 1_000_000), 10)
    .option("--duration <time>", "simulated time: 14h, 3d, 90m (a plain number is hours, said once)", parseWormDuration, 24)
    .option("--xp-timeout <seconds>", "how long a probe to a silent address holds its slot (XP: 3 + 6 + 12 = 21 s)", parseSecondsOption("--xp-timeout", 0.001, 3600), 21)
    .option("--threads <n>", "a thread-bound worm: probes in flight per host, each waiting --xp-timeout (default: bound by --scan-rate only)", parseIntOption("--threads", 1, 1_000_000))
    .addHelpText("after", "\nExample:\n  $ halfopen simulate worm --preset code-red --plot code-red.svg")
    .action(async (opts: WormOptions, cmd: Command) => {
      const { runWormSimulation } = await import("./run.js");
      await runWormSimulation(applyPreset(opts, cmd, PRESETS.worm));
    });

  common(simulate.command("replay").description("your own traffic: a capture recorded with `watch --record FILE` under a policy").argument("<file>", "a record file"), "xp")
    .option("--top <n>", "processes shown", parseIntOption("--top", 1, 10_000), 10)
    .addHelpText("after", "\nExample:\n  $ sudo halfopen watch --record today.jsonl   # later, Ctrl-C\n  $ halfopen simulate replay today.jsonl --policy xp --compare williamson")
    .action(async (file: string, opts: ReplayOptions) => {
      const { runReplaySimulation } = await import("./run.js");
      await runReplaySimulation(file, opts);
    });
}
