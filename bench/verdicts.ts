/**
 * Evaluation of the scan verdicts (part `verdicts` of `npm run bench`, root,
 * about a minute): labelled workloads run live through `halfopen watch` (the
 * built CLI, tracefs) in a network namespace the bench creates, where
 * 198.18.0.0/16 is local, a set of live addresses answers, a few services on
 * live hosts refuse, and every other address drops SYNs (nftables), so a
 * connect there is never answered. Nothing leaves the namespace.
 *
 * Workloads (scanners, then benign ones): real `nmap -sT -Pn` over a mostly
 * dead /24; a slow scanner (5 attempts/s to dead addresses); a worm-like
 * process scanning random addresses of the /16 (10 threads, a few live
 * hosts); a browser-like burst (30 parallel connects to 3 live servers); a
 * crawler of 40 live servers with 3 broken links; a P2P client whose 50
 * peers are 30% dead; a health checker polling 20 services every second,
 * one of them down.
 *
 * Reported per workload: the live verdict (test, first contacts, seconds
 * from the first attempt), each test on its own (TRW, reverse SHT; from the
 * recording, through the same core), the virus throttle's peak queue, and
 * two anchors computed in the same run on the same attempts: Zeek's old
 * scan.zeek rule (25 distinct hosts on one port within 5 min) and a Snort
 * sweep-like rule (10 distinct hosts within 60 s). Then the recording is
 * replayed through `watch --replay` and its verdicts compared with the live
 * ones. Results: its section of bench/RESULTS.md and bench/out/verdicts.json.
 * Then real programs with names (verdicts-real.ts): Chromium, Prometheus,
 * wget, curl, nmap -sT and pnscan, DNS-aware against the plain TRW and Zeek.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ConnectEvent } from "../src/core/events.js";
import { HalfOpenMonitor } from "../src/core/monitor.js";
import { RecordDecoder } from "../src/core/record-format.js";
import { ScanVerdictDetector, type TestsReport } from "../src/core/scan-detector.js";
import { seededRandom } from "../src/core/sim/scan-sim.js";
import { labSkipReason } from "../test/integration/lab.js";
import { startWatch, stopChild } from "./monitor.js";
import { realProgramsSkipReason, runRealProgramsBench } from "./verdicts-real.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const RECORD = `${REPO}bench/out/verdicts.record.jsonl`;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic pseudo-random numbers, so every run has the same workloads. */
const random = seededRandom;

const ip = (b: number, c: number) => `198.18.${b}.${c}`;
const range = (n: number, f: (i: number) => [string, number]) => Array.from({ length: n }, (_, i) => f(i));

/** The lab's live addresses and open ports. */
const CRAWL = range(40, (i) => [ip(1, i + 1), 80]);
const BROWSER = [ip(2, 1), ip(2, 2), ip(2, 3)];
const PEERS = range(50, (i) => [ip(3, i + 1), 6881]);
const DEAD_PEERS = (() => {
  const r = random(7);
  const dead = new Set<number>();
  while (dead.size < 15) dead.add(Math.floor(r() * 50));
  return dead;
})();
const HEALTH_HOST = ip(4, 1);
const HEALTH_DOWN = 8007;
const WORM_LIVE = range(10, (i) => [ip(200, i + 1), 445]);
const NMAP_LIVE = [ip(16, 10), ip(16, 20), ip(16, 30), ip(16, 40), ip(16, 50)];
const OPEN_PORTS = [80, 443, 445, 6881, ...Array.from({ length: 20 }, (_, i) => 8000 + i).filter((p) => p !== HEALTH_DOWN)];
const LIVE = [
  ...CRAWL.map(([a]) => a),
  ...BROWSER,
  ...PEERS.filter((_, i) => !DEAD_PEERS.has(i)).map(([a]) => a),
  HEALTH_HOST,
  ...WORM_LIVE.map(([a]) => a),
  ...NMAP_LIVE,
];

interface Workload {
  title: string;
  label: "scanner" | "benign";
  what: string;
  /** The workload script's spec, or an nmap command line. */
  spec?: Record<string, unknown>;
  nmap?: string[];
}

function workloads(): Workload[] {
  const wormRandom = random(42);
  const worm = range(600, () => [ip(Math.floor(wormRandom() * 256), 1 + Math.floor(wormRandom() * 254)), 445]);
  const crawl = [...CRAWL];
  // Three broken links: two dead hosts and a refused port, spread through the crawl.
  crawl.splice(10, 0, [ip(1, 201), 80]);
  crawl.splice(21, 0, [ip(1, 202), 80]);
  crawl.splice(32, 0, [ip(1, 5), 81]);
  const health = range(20, (i) => [HEALTH_HOST, 8000 + i]);
  return [
    { title: "wl-nmap", label: "scanner", what: "nmap -sT -Pn over a /24 with 5 live hosts", nmap: ["-sT", "-Pn", "-n", "-p", "80,443", "--max-retries", "0", "198.18.16.0/24"] },
    { title: "wl-slowscan", label: "scanner", what: "slow scanner: 5 attempts/s to dead addresses", spec: { targets: range(40, (i) => [ip(100, i + 1), 445]), concurrency: 100, gapMs: 200, timeoutMs: 3000 } },
    { title: "wl-worm", label: "scanner", what: "worm: random addresses of the /16, 10 threads", spec: { targets: worm, concurrency: 10, timeoutMs: 2000, durationMs: 8000 } },
    { title: "wl-browser", label: "benign", what: "browser: 30 parallel connects to 3 live servers", spec: { targets: range(30, (i) => [BROWSER[i % 3]!, 443]), concurrency: 30, timeoutMs: 3000 } },
    { title: "wl-crawler", label: "benign", what: "crawler: 40 live servers, 3 broken links", spec: { targets: crawl, concurrency: 4, gapMs: 100, timeoutMs: 3000 } },
    { title: "wl-p2p", label: "benign", what: "P2P client: 50 peers, 30% dead", spec: { targets: PEERS, concurrency: 8, timeoutMs: 3000 } },
    { title: "wl-health", label: "benign", what: "health checker: 20 services each second, 1 down", spec: { targets: health, concurrency: 20, timeoutMs: 900, rounds: 10, roundGapMs: 1000 } },
  ];
}

const NFT = (live: string[]) => `table inet halfopen_verdicts {
  set live { type ipv4_addr; elements = { ${[...new Set(live)].join(", ")} } }
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr 198.18.0.0/16 ip daddr != @live tcp flags & (syn | ack) == syn drop
  }
}
`;

function createVerdictLab(): string {
  const name = `hoverdict-${process.pid}`;
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  execFileSync("ip", ["netns", "add", name]);
  const ns = (...args: string[]) => execFileSync("ip", ["netns", "exec", name, ...args]);
  ns("ip", "link", "set", "lo", "up");
  ns("ip", "route", "add", "local", "198.18.0.0/16", "dev", "lo");
  execFileSync("ip", ["netns", "exec", name, "nft", "-f", "-"], { input: NFT(LIVE) });
  return name;
}

function inLab(lab: string, cmd: string, args: string[]): ChildProcess {
  return spawn("ip", ["netns", "exec", lab, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Start a workload; resolves with its pid once it runs, and a promise of its end. */
async function start(lab: string, w: Workload): Promise<{ pid: number; ended: Promise<unknown>; child: ChildProcess }> {
  if (w.nmap) {
    // nmap's process name is "nmap"; the exec wrapper has the workload's title via --comm below.
    const child = inLab(lab, "nmap", w.nmap);
    child.stdout?.resume();
    return { pid: -1, ended: once(child, "exit"), child };
  }
  const child = inLab(lab, process.execPath, [`${REPO}bench/verdict-workload.mjs`, JSON.stringify({ title: w.title, ...w.spec })]);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("exit", () => reject(new Error(`${w.title} exited before it started`)));
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = JSON.parse(l) as { ready?: boolean; pid?: number };
      if (m.ready) resolve(m.pid as number);
    });
  });
  return { pid, ended: once(child, "exit"), child };
}

interface Verdict {
  pid: number;
  name: string;
  verdict: string;
  test: string;
  firstContacts: number;
  trusted: boolean;
  evidence: { secondsToVerdict: number; firstContacts: number };
}

/** The anchors: Zeek's scan.zeek (25 hosts on one port in 5 min) and a sweep rule (10 hosts in 60 s), on each process's connects. */
function anchors(connects: ConnectEvent[]): Map<string, { zeek?: number; sweep?: number; first: number }> {
  const out = new Map<string, { zeek?: number; sweep?: number; first: number; byPort: Map<number, Map<string, number>>; hosts: Map<string, number> }>();
  for (const c of connects) {
    const key = c.process.name;
    let s = out.get(key);
    if (!s) out.set(key, (s = { first: c.time, byPort: new Map(), hosts: new Map() }));
    let hosts = s.byPort.get(c.dst.port);
    if (!hosts) s.byPort.set(c.dst.port, (hosts = new Map()));
    hosts.set(c.dst.address, c.time);
    s.hosts.set(c.dst.address, c.time);
    const recent = (m: Map<string, number>, windowMs: number) => [...m.values()].filter((t) => t >= c.time - windowMs).length;
    if (s.zeek === undefined && recent(hosts, 300_000) >= 25) s.zeek = c.time;
    if (s.sweep === undefined && recent(s.hosts, 60_000) >= 10) s.sweep = c.time;
  }
  return new Map([...out].map(([k, v]) => [k, { first: v.first, ...(v.zeek === undefined ? {} : { zeek: v.zeek }), ...(v.sweep === undefined ? {} : { sweep: v.sweep }) }]));
}

/** The recording through the core with the scan detector, for each test on its own, and the connects for the anchors. */
function offline(names: string[]): { tests: Map<string, TestsReport>; connects: ConnectEvent[] } {
  const decoder = new RecordDecoder();
  const detector = new ScanVerdictDetector();
  const monitor = new HalfOpenMonitor({ limit: 100_000, detectors: [detector] });
  const keys = new Map<string, string>();
  const connects: ConnectEvent[] = [];
  let last = 0;
  for (const line of readFileSync(RECORD, "utf8").split("\n")) {
    if (!line) continue;
    for (const item of decoder.line(line)) {
      if (item.kind === "event") {
        const e = item.event;
        if (e.type === "connect" && names.includes(e.process.name)) {
          keys.set(e.process.name, `${e.process.pid}${e.process.startTime === undefined ? "" : `@${e.process.startTime}`}`);
          connects.push(e);
        }
        monitor.handle(e);
        last = Math.max(last, e.time);
      } else if (item.kind === "tick") {
        monitor.tick(item.time);
        last = item.time;
      }
    }
  }
  monitor.flush(last);
  const tests = new Map<string, TestsReport>();
  for (const [name, key] of keys) {
    const t = detector.testsOf(key);
    if (t) tests.set(name, t);
  }
  return { tests, connects };
}

function replayVerdicts(comms: string[]): Verdict[] {
  const r = spawnSync(process.execPath, [`${REPO}dist/cli/main.js`, "watch", "--json", "--replay", RECORD, "--as-fast-as-possible", "--no-store", "--interval", "0", "--limit", "100000", "--comm", comms.join(",")], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`replay failed: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string } & Verdict)
    .filter((l) => l.type === "verdict");
}

const secs = (ms?: number) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(1)} s`);

export async function runVerdictsBench(): Promise<{ markdown: string; json: unknown }> {
  const lab = createVerdictLab();
  const server = inLab(lab, process.execPath, ["-e", `const net=require("net");for(const p of ${JSON.stringify(OPEN_PORTS)})net.createServer(c=>{c.on("error",()=>{});c.destroy()}).listen({port:p,host:"0.0.0.0",backlog:4096});`]);
  const list = workloads();
  const comms = [...list.map((w) => (w.nmap ? "nmap" : w.title))];
  const started = new Date().toISOString();
  try {
    await sleep(500);
    const watch = startWatch(["--interval", "0", "--no-store", "--limit", "100000", "--record", RECORD, "--comm", comms.join(",")]);
    await watch.started;
    log("verdicts: running 7 workloads at once in the lab");
    const running = await Promise.all(list.map((w) => start(lab, w)));
    await Promise.race([Promise.all(running.map((r) => r.ended)), sleep(40_000)]);
    for (const r of running) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    await sleep(1500); // the last deadlines pass and are ticked
    await stopChild(watch.child);
    const live = watch.records.filter((r) => r.type === "verdict") as unknown as Verdict[];
    // The live verdicts beside the recording: test/fixtures/records ships both (verdicts-lab.*).
    writeFileSync(`${REPO}bench/out/verdicts.live.jsonl`, live.map((v) => JSON.stringify(v)).join("\n") + "\n");
    const { tests, connects } = offline(comms);
    const marks = anchors(connects);
    const replayed = replayVerdicts(comms);
    const rows = list.map((w) => {
      const name = w.nmap ? "nmap" : w.title;
      const mine = live.filter((v) => v.name === name);
      const v = mine.find((x) => x.verdict === "scanner") ?? mine[0];
      const t = tests.get(name);
      const a = marks.get(name);
      const replay = replayed.filter((x) => x.name === name);
      const sameReplay = JSON.stringify(replay.map((x) => [x.verdict, x.test, x.firstContacts])) === JSON.stringify(mine.map((x) => [x.verdict, x.test, x.firstContacts]));
      return {
        workload: w.title,
        what: w.what,
        label: w.label,
        attemptsSeen: connects.filter((c) => c.process.name === name).length,
        firstContacts: t?.firstContacts ?? 0,
        verdict: v?.verdict ?? "undecided",
        test: v?.test,
        verdictFirstContacts: v?.firstContacts,
        secondsToVerdict: v?.evidence.secondsToVerdict,
        trw: t?.trw,
        reverse: t?.reverse,
        throttlePeak: t?.throttlePeak ?? 0,
        zeekAfterMs: a?.zeek === undefined ? undefined : a.zeek - a.first,
        sweepAfterMs: a?.sweep === undefined ? undefined : a.sweep - a.first,
        replaySame: sameReplay,
      };
    });
    const scanners = rows.filter((r) => r.label === "scanner");
    const flagged = scanners.filter((r) => r.verdict === "scanner");
    const meanFc = flagged.reduce((n, r) => n + (r.verdictFirstContacts ?? 0), 0) / Math.max(1, flagged.length);
    const maxS = Math.max(...flagged.map((r) => r.secondsToVerdict ?? Number.POSITIVE_INFINITY));
    const falsePositives = rows.filter((r) => r.label === "benign" && r.verdict === "scanner");
    const zeekFp = rows.filter((r) => r.label === "benign" && r.zeekAfterMs !== undefined).length;
    const sweepFp = rows.filter((r) => r.label === "benign" && r.sweepAfterMs !== undefined).length;
    const md = [
      "## Scan verdicts (`watch`, TRW and reverse SHT)",
      "",
      `Run: ${started}, \`npm run bench -- --only verdicts\` on ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.version}.`,
      "Seven labelled workloads at once in a test network namespace (198.18.0.0/16 local; live addresses answer, a few",
      "services refuse, every other address drops SYNs), live through `halfopen watch` (tracefs). TRW and reverse SHT",
      "columns: each test on its own, on the same recording through the same core (first contacts, seconds after the",
      "process's first attempt). Anchors on the same attempts, same run: Zeek's old scan.zeek rule (25 distinct hosts on",
      "one port within 5 min) and a sweep rule (10 distinct hosts within 60 s). Replay: `watch --replay` of the",
      "recording gives the same verdicts.",
      "",
      "| workload | label | attempts | first contacts | verdict (live) | TRW | reverse SHT | throttle peak | Zeek 25/port | sweep 10/60s | replay |",
      "|---|---|---:|---:|---|---|---|---:|---|---|---|",
      ...rows.map((r) => {
        const verdict = r.verdict === "undecided" ? "undecided" : `**${r.verdict}** (${r.test === "trw" ? "TRW" : "reverse SHT"}, ${r.verdictFirstContacts} fc, ${r.secondsToVerdict?.toFixed(2)} s)`;
        const test = (o?: TestsReport["trw"]) => (o?.decision ? `${o.decision}: ${o.firstContacts} fc, ${secs(o.afterMs)}` : "-");
        return `| ${r.workload}: ${r.what} | ${r.label} | ${r.attemptsSeen} | ${r.firstContacts} | ${verdict} | ${test(r.trw)} | ${test(r.reverse)} | ${r.throttlePeak} | ${r.zeekAfterMs === undefined ? "-" : `flags, ${secs(r.zeekAfterMs)}`} | ${r.sweepAfterMs === undefined ? "-" : `flags, ${secs(r.sweepAfterMs)}`} | ${r.replaySame ? "same" : "DIFFERS"} |`;
      }),
      "",
      `Scanners flagged: ${flagged.length} of ${scanners.length}, after ${meanFc.toFixed(1)} first contacts on average (goal: 6 or fewer), at most ${maxS.toFixed(2)} s after their first attempt (goal: 2 s).`,
      `Benign workloads flagged: ${falsePositives.length} of ${rows.length - scanners.length}${falsePositives.length ? ` (${falsePositives.map((r) => r.workload).join(", ")})` : ""}. Anchors on the benign ones: Zeek rule ${zeekFp}, sweep rule ${sweepFp}.`,
      `Replays with the same verdicts: ${rows.filter((r) => r.replaySame).length} of ${rows.length}.`,
      "",
      realProgramsSkipReason() === undefined ? await runRealProgramsBench() : `### Real programs, with names\n\nNot run here: ${realProgramsSkipReason() ?? ""}.\n`,
    ].join("\n");
    return { markdown: md, json: { started, rows } };
  } finally {
    server.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", lab], { stdio: "ignore" });
  }
}

export function verdictsBenchSkipReason(): string | undefined {
  return labSkipReason() ?? (spawnSync("nmap", ["--version"]).status === 0 ? undefined : "needs nmap (Debian package nmap)");
}
