/**
 * Idle cost and wake-up latency of `halfopen watch` (tracefs source), before
 * and after waking on data (part `wake` of `npm run bench`, root, ~3 minutes).
 *
 * "before" is the 10 ms timer that read the ring buffers until issue 12
 * (HALFOPEN_TRACEFS_WAKE=timer, still the path without the native helper);
 * "after" is the event loop's own epoll watching the per-CPU buffers (the
 * native helper's uv_poll; a poll thread until issue 32), woken by the kernel
 * at the first event (buffer_percent 0). Both run in the same run, alternating:
 *   - idle CPU: a watch on a quiet host, CPU time summed over all its threads
 *     (/proc/PID/task/* /schedstat, ns) over a window; the anchor is an idle
 *     Node process with one 1 s timer, measured in the same window;
 *   - latency: kernel timestamp of the (limit+1)-th attempt to the
 *     incident-open line read here, on an idle host and under 5000/s of
 *     background connects (the monitor part's workload).
 * Everything runs in a test network namespace (198.18.0.1).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import { createLab, destroyLab, labSysctl, type Lab } from "../test/integration/lab.js";
import { measureLatency, startServers, startWatch, stopChild } from "./monitor.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** CPU time of every thread of `pid`, in ms (schedstat's first field is ns on the CPU). */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ns / 1e6;
}

const MODES: { name: string; wake: "timer" | "data"; env: NodeJS.ProcessEnv }[] = [
  { name: "before: 10 ms timer", wake: "timer", env: { HALFOPEN_TRACEFS_WAKE: "timer" } },
  { name: "after: woken on data", wake: "data", env: {} },
];

interface IdleRow {
  mode: string;
  percent: number[];
  anchor: number[];
}

async function idleRound(mode: (typeof MODES)[number], windowMs: number): Promise<{ watch: number; anchor: number }> {
  const watch = startWatch(["--interval", "0", "--no-store"], mode.env);
  const anchor: ChildProcess = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    await watch.started;
    const details = (watch.records[0] as { sourceDetails?: { wake?: string } }).sourceDetails;
    if (details?.wake !== mode.wake) throw new Error(`watch woke by ${details?.wake}, expected ${mode.name}`);
    await sleep(2000); // start-up work done
    const a0 = cpuMs(watch.child.pid as number);
    const b0 = cpuMs(anchor.pid as number);
    const t0 = performance.now();
    await sleep(windowMs);
    const a1 = cpuMs(watch.child.pid as number);
    const b1 = cpuMs(anchor.pid as number);
    const dt = performance.now() - t0;
    return { watch: ((a1 - a0) / dt) * 100, anchor: ((b1 - b0) / dt) * 100 };
  } finally {
    anchor.kill();
    await stopChild(watch.child);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function runWakeBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const rounds = quick ? 2 : 3;
  const windowMs = quick ? 10_000 : 20_000;
  const idle: IdleRow[] = MODES.map((m) => ({ mode: m.name, percent: [], anchor: [] }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, m] of MODES.entries()) {
      log(`idle round ${r + 1}/${rounds}: ${m.name}`);
      const x = await idleRound(m, windowMs);
      idle[i]?.percent.push(x.watch);
      idle[i]?.anchor.push(x.anchor);
    }
  }
  const lab: Lab = createLab("howake");
  labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
  labSysctl(lab, "net.ipv4.tcp_tw_reuse", "1");
  const servers = startServers(lab);
  await sleep(500);
  const bursts = quick ? 40 : 150;
  const latency: { mode: string; background: number; samples: number; p50: number; p99: number; max: number }[] = [];
  try {
    for (const background of [0, 5000]) {
      for (const m of MODES) {
        const l = await measureLatency(lab, bursts, { background, env: m.env });
        latency.push({ mode: m.name, ...l });
      }
    }
  } finally {
    servers.kill();
    destroyLab(lab);
  }
  const when = new Date().toISOString();
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  const f = (x: number) => x.toFixed(2);
  const markdown = [
    "## Idle cost and wake-up latency of `watch` (tracefs)",
    "",
    `Run: ${when}, \`npm run bench -- --only wake${quick ? " --quick" : ""}\` on ${machine}.`,
    "\"before\" reads the ring buffers on a 10 ms timer (HALFOPEN_TRACEFS_WAKE=timer; also the path without the native",
    "helper); \"after\" sleeps in the event loop's own epoll (the native helper's uv_poll on the per-CPU buffers) until",
    "the kernel has an event (buffer_percent 0). Same run, modes alternating.",
    "",
    "### Idle CPU",
    "",
    `A watch on a quiet host, CPU time of all its threads (schedstat) over ${windowMs / 1000} s windows, ${rounds} rounds per mode. Anchor: an`,
    "idle `node -e \"setInterval(() => {}, 1000)\"` measured in the same windows. Goal: < 0.5% of a core.",
    "",
    "| mode | watch, % of a core (median) | each round | anchor (median) |",
    "|---|---:|---|---:|",
    ...idle.map((r) => `| ${r.mode} | **${f(median(r.percent))}%** | ${r.percent.map(f).join(", ")} | ${f(median(r.anchor))}% |`),
    "",
    "### Latency to the incident line",
    "",
    `Kernel timestamp of the (limit+1)-th concurrent attempt to the \`incident-open\` JSON line read by the bench, ${bursts} bursts of 11`,
    "dropped connects per row, on an idle host and with refused and open connects in the background. On the idle host",
    "bursts 120 ms apart often fall into one incident (it closes at a 250 ms tick after 50 ms below the limit), so fewer",
    "incidents are timed there; each timed one is the first burst of its incident.",
    "",
    "| mode | background | incidents | p50 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|",
    ...latency.map((l) => `| ${l.mode} | ${l.background}/s | ${l.samples} | ${l.p50.toFixed(1)} ms | **${l.p99.toFixed(1)} ms** | ${l.max.toFixed(1)} ms |`),
    "",
  ].join("\n");
  return { markdown, json: { when, machine, idle, latency } };
}
