/**
 * What tracing SYNs sent without connect() costs, and how much of a fast
 * scanner it sees (part `raw` of `npm run bench`, root, masscan; ~3 minutes).
 *
 * 1. `watch` CPU (all its threads, /proc/PID/stat) idle and at 10,000
 *    connects/s (the monitor part's generators, in a lab namespace), in three
 *    configurations measured in the same run, alternating: raw-sender tracing
 *    off (--no-raw-senders: the anchor), on with no raw socket anywhere (the
 *    always-on part: the filtered sys_enter_socket tracepoint), and on with an
 *    idle packet-socket holder in the connects' own namespace (the capture
 *    there sees every SYN, SYN-ACK and RST of the 10,000 connects/s).
 * 2. The price every task pays for a syscall tracepoint being on: `dd
 *    bs=1` copying 2 MB from /dev/zero to /dev/null (4 million syscalls),
 *    ns per syscall with no watch (the anchor), with --no-raw-senders, and
 *    with raw-sender tracing.
 * 3. masscan --rate 10000 and --rate 50000 in a two-namespace lab: SYNs
 *    `watch` named against the target's nftables counter, with every loss
 *    `watch` reported (capture drops, ring-buffer losses, unattributed).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import os from "node:os";
import { createLab, destroyLab, labSysctl } from "../test/integration/lab.js";
import { SCANNER_ADDRESS, TARGET_ADDRESS, createRawLab, destroyRawLab, synCounts } from "../test/integration/raw-lab.js";
import { generators, procStat, runGenerator, startServers, startWatch, stopChild } from "./monitor.js";
import { cpuMs } from "./wake.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const TICK_MS = 1000 / 100;

export function rawBenchSkipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return "needs root (tracefs, namespaces)";
  try {
    execFileSync("sh", ["-c", "command -v masscan && command -v python3 && command -v dd"], { stdio: "ignore" });
  } catch {
    return "needs masscan, python3 and dd";
  }
  return undefined;
}

type Config = { name: string; args: string[]; holder: boolean };
const CONFIGS: Config[] = [
  { name: "off (--no-raw-senders): anchor", args: ["--no-raw-senders"], holder: false },
  { name: "on, no raw socket open", args: [], holder: false },
  { name: "on, a packet-socket holder in the connects' namespace", args: [], holder: true },
];

/** A process that holds an AF_PACKET socket in `ns` and sends nothing. */
function startHolder(ns: string): ChildProcess {
  return spawn("ip", ["netns", "exec", ns, "python3", "-c", "import socket,time\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,0)\ntime.sleep(3600)"], { stdio: "ignore" });
}

async function cpuRound(c: Config, rate: number, ms: number, labName: string): Promise<{ idle: number; busy: number; lost: number }> {
  const holder = c.holder ? startHolder(labName) : undefined;
  await sleep(300);
  const watch = startWatch(["--interval", "0", "--no-store", "--limit", "100000", ...c.args]);
  try {
    await watch.started;
    await sleep(2000);
    const pid = watch.child.pid as number;
    // CPU time of all its threads from schedstat (ns), not the 10 ms ticks of /proc/PID/stat.
    let t0 = cpuMs(pid);
    let w0 = performance.now();
    await sleep(ms);
    const idle = ((cpuMs(pid) - t0) / (performance.now() - w0)) * 100;
    t0 = cpuMs(pid);
    w0 = performance.now();
    await Promise.all(generators(rate, ms, "raw").map((g) => runGenerator({ name: labName }, g)));
    const busy = ((cpuMs(pid) - t0) / (performance.now() - w0)) * 100;
    await stopChild(watch.child);
    const stop = watch.records.find((r) => r.type === "stop") as { source?: { lostEvents?: number } } | undefined;
    return { idle, busy, lost: stop?.source?.lostEvents ?? 0 };
  } finally {
    await stopChild(watch.child);
    holder?.kill();
  }
}

/** ns per syscall of `dd bs=1 count=2000000` (one read and one write per byte). */
function ddNsPerSyscall(): number {
  const t0 = process.hrtime.bigint();
  execFileSync("dd", ["if=/dev/zero", "of=/dev/null", "bs=1", "count=2000000"], { stdio: "ignore" });
  return Number(process.hrtime.bigint() - t0) / 4_000_000;
}

async function syscallRound(c: Config | undefined): Promise<number> {
  const watch = c ? startWatch(["--interval", "0", "--no-store", ...c.args]) : undefined;
  try {
    await watch?.started;
    await sleep(watch ? 1000 : 0);
    return ddNsPerSyscall();
  } finally {
    if (watch) await stopChild(watch.child);
  }
}

interface ScanRow {
  rate: number;
  sent: number;
  named: number;
  lost: number;
  drops: number;
  unattributed: number;
  cpuPercent: number;
}

async function masscanRound(rate: number, ports: number): Promise<ScanRow> {
  const lab = createRawLab("horawb");
  const watch = startWatch(["--interval", "0", "--no-store", "--limit", "100000", "--raw-answer", "1", "--netns", lab.scanner]);
  try {
    await watch.started;
    await sleep(1000);
    const before = synCounts(lab);
    const pid = watch.child.pid as number;
    const t0 = procStat(pid).cpuTicks;
    const w0 = performance.now();
    const m = spawn("ip", ["netns", "exec", lab.scanner, "masscan", TARGET_ADDRESS, `-p1-${ports}`, "--rate", String(rate), "--adapter", "v0", "--adapter-ip", SCANNER_ADDRESS, "--router-mac", lab.targetMac, "--wait", "0"], { stdio: "ignore" });
    await once(m, "exit");
    await sleep(2500);
    const cpuPercent = (((procStat(pid).cpuTicks - t0) * TICK_MS) / (performance.now() - w0)) * 100;
    const sent = synCounts(lab).toTarget - before.toTarget;
    await stopChild(watch.child);
    const stop = watch.records.find((r) => r.type === "stop") as { processes: { pid: number; syns?: number }[]; source: { lostEvents: number; rawCaptureDrops?: number; rawUnattributed?: number } };
    const named = stop.processes.find((p) => p.pid === m.pid)?.syns ?? 0;
    return { rate, sent, named, lost: stop.source.lostEvents, drops: stop.source.rawCaptureDrops ?? 0, unattributed: stop.source.rawUnattributed ?? 0, cpuPercent };
  } finally {
    await stopChild(watch.child);
    destroyRawLab(lab);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function runRawBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const rounds = quick ? 1 : 3;
  const ms = quick ? 5000 : 10_000;
  const rate = 10_000;
  const lab = createLab("horawc");
  labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
  labSysctl(lab, "net.ipv4.tcp_tw_reuse", "1");
  const servers = startServers(lab);
  const cpu = CONFIGS.map((c) => ({ name: c.name, idle: [] as number[], busy: [] as number[], lost: 0 }));
  try {
    await sleep(500);
    for (let r = 0; r < rounds; r++) {
      for (const [i, c] of CONFIGS.entries()) {
        log(`cpu round ${r + 1}/${rounds}: ${c.name}`);
        const x = await cpuRound(c, rate, ms, lab.name);
        cpu[i]?.idle.push(x.idle);
        cpu[i]?.busy.push(x.busy);
        if (cpu[i]) cpu[i].lost += x.lost;
      }
    }
  } finally {
    servers.kill();
    destroyLab(lab);
  }
  const sys = [{ name: "no watch: anchor", ns: [] as number[] }, { name: "watch --no-raw-senders", ns: [] as number[] }, { name: "watch (raw-sender tracing on)", ns: [] as number[] }];
  for (let r = 0; r < (quick ? 3 : 5); r++) {
    log(`syscall round ${r + 1}`);
    sys[0]?.ns.push(await syscallRound(undefined));
    sys[1]?.ns.push(await syscallRound(CONFIGS[0]));
    sys[2]?.ns.push(await syscallRound(CONFIGS[1]));
  }
  const scans: ScanRow[] = [];
  for (const [r, ports] of [
    [10_000, quick ? 20_000 : 50_000],
    [50_000, quick ? 50_000 : 65_535],
  ] as const) {
    log(`masscan --rate ${r}`);
    scans.push(await masscanRound(r, ports));
  }
  const when = new Date().toISOString();
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  const f = (x: number) => x.toFixed(2);
  const markdown = [
    "## SYNs without connect(): cost and capture",
    "",
    `Run: ${when}, \`npm run bench -- --only raw${quick ? " --quick" : ""}\` on ${machine}.`,
    "",
    "### watch CPU, idle and at 10,000 connects/s",
    "",
    `CPU time of all of watch's threads (schedstat), ${ms / 1000} s idle then ${ms / 1000} s of ${rate} connects/s (a third each dropped, refused, open; in a`,
    `lab namespace), ${rounds} round(s) per configuration, configurations alternating. Anchor: the same watch with --no-raw-senders.`,
    "",
    "| configuration | idle, % of a core | at 10,000/s, % of a core (median) | each round | events lost |",
    "|---|---:|---:|---|---:|",
    ...cpu.map((c) => `| ${c.name} | ${f(median(c.idle))}% | **${f(median(c.busy))}%** | ${c.busy.map(f).join(", ")} | ${c.lost} |`),
    "",
    "### What every syscall pays",
    "",
    "`dd if=/dev/zero of=/dev/null bs=1 count=2000000` (4 million syscalls), ns per syscall, median of the rounds. Anchor: no",
    "watch running. Raw-sender tracing enables the `sys_enter_socket` tracepoint, which puts every task's syscalls on the",
    "kernel's tracing path.",
    "",
    "| running | ns per syscall (median) | each round |",
    "|---|---:|---|",
    ...sys.map((s) => `| ${s.name} | **${median(s.ns).toFixed(1)}** | ${s.ns.map((x) => x.toFixed(1)).join(", ")} |`),
    "",
    "### masscan, captured",
    "",
    "masscan (packet socket) in a two-namespace lab, one target address, closed ports (RST answers). `sent`: SYNs the target's",
    "nftables ingress counter saw; `named`: SYNs watch gave to masscan's pid; losses as watch reported them (capture drops are",
    "also `lost` events).",
    "",
    "| --rate | sent | named | named/sent | lost events | capture drops | unattributed | watch CPU during the scan |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...scans.map((s) => `| ${s.rate} | ${s.sent} | ${s.named} | **${((s.named / Math.max(1, s.sent)) * 100).toFixed(2)}%** | ${s.lost} | ${s.drops} | ${s.unattributed} | ${f(s.cpuPercent)}% |`),
    "",
  ].join("\n");
  return { markdown, json: { when, machine, cpu, sys, scans } };
}
