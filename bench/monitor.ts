/**
 * The benchmark of the Linux monitor (part of `npm run bench`, root, ~3 minutes).
 * Everything runs in a network namespace it creates (198.18.0.1; SYNs to
 * 10000-19999 dropped by nftables); nothing leaves the machine.
 *
 * For each rate (1k, 5k, 20k attempts/s), three generator processes (dropped,
 * refused, open ports; a third of the rate each) run while, in the same run:
 *   - `halfopen watch --json` (the built CLI) counts attempts per pid;
 *   - the anchor `bpftrace` counts CLOSE->SYN_SENT per pid in the kernel;
 *   - the anchor `ss -tanp state syn-sent`, polled once a second, counts the
 *     distinct half-open sockets it caught per pid.
 * Then: CPU and RSS of watch at 10k attempts/s, and the latency from the
 * (limit+1)-th concurrent attempt (kernel timestamp) to the incident-open
 * line arriving here, over repeated bursts, under 5k/s of background load.
 * With HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js (another build, e.g.
 * today's main), CPU and latency again for this build and that one,
 * alternating, two rounds each (~3 minutes more).
 * Results: its section of bench/RESULTS.md, and bench/out/monitor.json.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLab, destroyLab, labSkipReason, labSysctl, spawnInLab, LAB_ADDRESS, DROPPED_RANGE, REFUSED_PORT, type Lab } from "../test/integration/lab.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const OPEN_PORTS = [8080, 8081, 8082, 8083];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface GenResult {
  pid: number;
  title: string;
  issued: number;
  localErrors: number;
  outcomes: Record<string, number>;
  elapsedMs: number;
}

function lines(child: ChildProcess, onLine: (l: string) => void): void {
  createInterface({ input: child.stdout! }).on("line", onLine);
}

export function startWatch(args: string[], env: NodeJS.ProcessEnv = {}, cli = `${REPO}dist/cli/main.js`): { child: ChildProcess; records: Record<string, unknown>[]; started: Promise<void>; onRecord: (f: (r: Record<string, unknown>, at: number) => void) => void } {
  const child = spawn(process.execPath, [cli, "watch", "--json", ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  const records: Record<string, unknown>[] = [];
  const listeners: ((r: Record<string, unknown>, at: number) => void)[] = [];
  let resolveStart = () => {};
  const started = new Promise<void>((r) => {
    resolveStart = r;
  });
  lines(child, (l) => {
    const at = nowMs();
    const r = JSON.parse(l) as Record<string, unknown>;
    records.push(r);
    if (r.type === "start") resolveStart();
    for (const f of listeners) f(r, at);
  });
  return { child, records, started, onRecord: (f) => listeners.push(f) };
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGINT"): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

function startBpftrace(): { child: ChildProcess; counts: Promise<Map<number, number>>; ready: Promise<void> } {
  const prog = "tracepoint:sock:inet_sock_set_state /args->newstate == 2 && args->protocol == 6/ { @[pid] = count(); }";
  const child = spawn("bpftrace", ["-e", prog], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let resolveReady = () => {};
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("Attaching")) resolveReady();
  });
  const counts = once(child, "exit").then(() => {
    const m = new Map<number, number>();
    for (const match of out.matchAll(/^@\[(\d+)\]: (\d+)$/gm)) m.set(Number(match[1]), Number(match[2]));
    return m;
  });
  return { child, counts, ready };
}

/** Polls `ss -tanp state syn-sent` in the lab once a second; distinct sockets per pid. */
function startSsPoller(lab: Lab): { stop: () => Promise<Map<number, number>> } {
  const seen = new Map<number, Set<string>>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      try {
        const out = execFileSync("ip", ["netns", "exec", lab.name, "ss", "-tanpH", "state", "syn-sent"], { encoding: "utf8", maxBuffer: 64 << 20 });
        for (const line of out.split("\n")) {
          const pid = /pid=(\d+)/.exec(line)?.[1];
          const cols = line.trim().split(/\s+/);
          if (!pid || cols.length < 4) continue;
          const key = `${cols[2]}>${cols[3]}`;
          let set = seen.get(Number(pid));
          if (!set) seen.set(Number(pid), (set = new Set()));
          set.add(key);
        }
      } catch {
        // ss failed this round
      }
      await sleep(Math.max(0, 1000 - (Date.now() - t0)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return new Map([...seen].map(([pid, set]) => [pid, set.size]));
    },
  };
}

const GENERATOR_NOFILE = 200_000;
let raiseNofile: boolean | undefined;
const mayRaiseNofile = () => (raiseNofile ??= spawnSync("prlimit", [`--nofile=${GENERATOR_NOFILE}:${GENERATOR_NOFILE}`, "true"]).status === 0);

export function runGenerator(lab: Lab, spec: Record<string, unknown>): Promise<GenResult> {
  // Enough descriptors for every attempt it holds: at 20,000/s with 300 ms holds a generator slowed by a tracer
  // sharing its cores can hold more than a shell's 20,000 and fail attempts with EMFILE (counted as local errors:
  // the cost bench charges CPU per attempt made). Raised where the limit may be raised (CAP_SYS_RESOURCE).
  const args = [`${REPO}bench/generator.mjs`, JSON.stringify(spec)];
  return generatorResult(mayRaiseNofile() ? spawnInLab(lab, "prlimit", [`--nofile=${GENERATOR_NOFILE}:${GENERATOR_NOFILE}`, process.execPath, ...args]) : spawnInLab(lab, process.execPath, args), String(spec.title));
}

/** A generator's JSON line (its last), once it exited. */
function generatorResult(child: ChildProcess, title: string): Promise<GenResult> {
  return new Promise((resolve, reject) => {
    let result: GenResult | undefined;
    lines(child, (l) => {
      result = JSON.parse(l) as GenResult;
    });
    child.on("exit", () => (result ? resolve(result) : reject(new Error(`generator ${title} gave no result`))));
  });
}

let connectGen: string | null | undefined;
/**
 * bench/connect-gen.c built with the host's cc (once a run, into bench/out): the cost bench's generator, which
 * holds 20,000 connects/s at about a third of a core (all in, the kernel's work included) where generator.mjs took
 * more than a whole one and fell behind. Undefined (said once) without cc.
 */
export function connectGenBinary(): string | undefined {
  if (connectGen !== undefined) return connectGen ?? undefined;
  const out = `${REPO}bench/out/connect-gen`;
  mkdirSync(`${REPO}bench/out`, { recursive: true });
  const cc = spawnSync("cc", ["-O2", "-Wall", "-o", out, `${REPO}bench/connect-gen.c`], { encoding: "utf8" });
  if (cc.status !== 0) process.stderr.write(`bench: cannot build bench/connect-gen.c (${cc.error?.message ?? cc.stderr.trim()}); the Node generator is used\n`);
  connectGen = cc.status === 0 ? out : null;
  return connectGen ?? undefined;
}

/** Dropped-target connects from the C generator (connectGenBinary), else from generator.mjs: the same spec and result. */
export function runConnectGenerator(lab: Lab, spec: { title: string; host: string; ports: number[]; rate: number; durationMs: number; holdMs: number }): Promise<GenResult> {
  const bin = connectGenBinary();
  const first = spec.ports[0] ?? 0;
  if (!bin || spec.ports.some((p, i) => p !== first + i)) return runGenerator(lab, spec);
  const args = [bin, spec.title, spec.host, String(first), String(spec.ports.length), String(spec.rate), String(spec.durationMs), String(spec.holdMs)];
  return generatorResult(mayRaiseNofile() ? spawnInLab(lab, "prlimit", [`--nofile=${GENERATOR_NOFILE}:${GENERATOR_NOFILE}`, ...args]) : spawnInLab(lab, bin, args.slice(1)), spec.title);
}

export function startServers(lab: Lab): ChildProcess {
  const code = `const net=require("net");for(const p of ${JSON.stringify(OPEN_PORTS)})net.createServer(c=>{c.on("error",()=>{});c.destroy()}).listen({port:p,host:"${LAB_ADDRESS}",backlog:4096});`;
  return spawnInLab(lab, process.execPath, ["-e", code]);
}

export function generators(rate: number, durationMs: number, tag: string): Record<string, unknown>[] {
  const dropped = Array.from({ length: 1000 }, (_, i) => DROPPED_RANGE[0] + i);
  return [
    { title: `gen-drop-${tag}`, host: LAB_ADDRESS, ports: dropped, rate: rate / 3, durationMs, holdMs: 300 },
    { title: `gen-ref-${tag}`, host: LAB_ADDRESS, ports: [REFUSED_PORT], rate: rate / 3, durationMs },
    { title: `gen-open-${tag}`, host: LAB_ADDRESS, ports: OPEN_PORTS, rate: rate / 3, durationMs },
  ];
}

export function procStat(pid: number): { cpuTicks: number; rssKb: number; hwmKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    cpuTicks: Number(f[11]) + Number(f[12]),
    rssKb: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]),
    hwmKb: Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1]),
  };
}

interface RateRow {
  rate: number;
  achievedRate: number;
  truth: number;
  watch: number;
  watchRightPid: number;
  bpftrace: number;
  ss: number;
  lost: number;
  perKind: { title: string; truth: number; watch: number; bpftrace: number; ss: number }[];
}

async function measureRate(lab: Lab, rate: number, durationMs: number): Promise<RateRow> {
  log(`rate ${rate}/s for ${durationMs / 1000}s`);
  const watch = startWatch(["--interval", "0", "--buffer-kb", "16384"]);
  await watch.started;
  const bpf = startBpftrace();
  await Promise.race([bpf.ready, sleep(5000)]);
  const ss = startSsPoller(lab);
  const results = await Promise.all(generators(rate, durationMs, String(rate)).map((g) => runGenerator(lab, g)));
  await sleep(1500);
  const ssCounts = await ss.stop();
  await stopChild(bpf.child);
  const bpfCounts = await bpf.counts;
  await stopChild(watch.child);
  const stop = watch.records.find((r) => r.type === "stop") as { processes: { pid: number; name: string; attempts: number }[]; lostEvents: number };
  const byPid = new Map(stop.processes.map((p) => [p.pid, p]));
  const perKind = results.map((g) => {
    const w = byPid.get(g.pid);
    return { title: g.title, truth: g.issued - g.localErrors, watch: w?.attempts ?? 0, watchName: w?.name, bpftrace: bpfCounts.get(g.pid) ?? 0, ss: ssCounts.get(g.pid) ?? 0 };
  });
  const sum = (k: "truth" | "watch" | "bpftrace" | "ss") => perKind.reduce((n, r) => n + r[k], 0);
  const rightPid = perKind.reduce((n, r) => n + (r.watchName === r.title.slice(0, 15) ? r.watch : 0), 0);
  const achieved = results.reduce((n, g) => n + (g.issued * 1000) / g.elapsedMs, 0);
  return { rate, achievedRate: Math.round(achieved), truth: sum("truth"), watch: sum("watch"), watchRightPid: rightPid, bpftrace: sum("bpftrace"), ss: sum("ss"), lost: stop.lostEvents, perKind };
}

async function measureCpu(lab: Lab, rate: number, durationMs: number, cli?: string): Promise<{ rate: number; cpuPercent: number; rssMb: number; hwmMb: number; attempts: number }> {
  log(`cpu/rss at ${rate}/s for ${durationMs / 1000}s${cli ? ` (${cli})` : ""}`);
  const watch = startWatch(["--interval", "0", "--buffer-kb", "16384"], {}, cli);
  await watch.started;
  const pid = watch.child.pid as number;
  const run = Promise.all(generators(rate, durationMs, "cpu").map((g) => runGenerator(lab, g)));
  await sleep(2000); // warm up
  const a = procStat(pid);
  const t0 = nowMs();
  await sleep(durationMs - 4000);
  const b = procStat(pid);
  const t1 = nowMs();
  await run;
  await stopChild(watch.child);
  const hz = 100; // USER_HZ, from sysconf(_SC_CLK_TCK) on Linux
  const stop = watch.records.find((r) => r.type === "stop") as { attempts: number };
  return { rate, cpuPercent: (((b.cpuTicks - a.cpuTicks) / hz) * 1000 * 100) / (t1 - t0), rssMb: b.rssKb / 1024, hwmMb: b.hwmKb / 1024, attempts: stop.attempts };
}

export interface LatencyOptions {
  /** Refused and open connects per second in the background (0: an idle host). Default 5000. */
  background?: number;
  /** Environment of the watch (HALFOPEN_TRACEFS_WAKE=timer for the 10 ms timer). */
  env?: NodeJS.ProcessEnv;
  /** Another build's dist/cli/main.js. */
  cli?: string;
}

export async function measureLatency(lab: Lab, bursts: number, options: LatencyOptions = {}): Promise<{ samples: number; p50: number; p99: number; max: number; background: number; latencies: number[] }> {
  const background = options.background ?? 5000;
  log(`latency over ${bursts} bursts, ${background}/s background${options.env?.HALFOPEN_TRACEFS_WAKE ? `, wake ${options.env.HALFOPEN_TRACEFS_WAKE}` : ""}`);
  const watch = startWatch(["--interval", "0", "--quiet", "0.05", "--no-store"], options.env, options.cli);
  await watch.started;
  const latencies: number[] = [];
  watch.onRecord((r, at) => {
    if (r.type === "incident-open") latencies.push(at - (r.trigger as { time: number }).time);
  });
  const bg =
    background > 0
      ? Promise.all(
          generators(background, Math.max(10_000, bursts * 200 + 5000), "bg")
            .slice(1)
            .map((g) => runGenerator(lab, { ...g, rate: background / 2 })),
        )
      : Promise.resolve([]);
  const child = spawnInLab(lab, process.execPath, [`${REPO}bench/burst.mjs`, JSON.stringify({ title: "burst", host: LAB_ADDRESS, port: DROPPED_RANGE[0], size: 11, holdMs: 60, gapMs: 120, bursts })]);
  await once(child, "exit");
  await sleep(500);
  await stopChild(watch.child);
  // the background generators run for their own duration; wait them out
  await bg;
  latencies.sort((x, y) => x - y);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return { samples: latencies.length, p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? Number.NaN, background, latencies };
}

/** An anchor build by its commit (the checkout its dist/ is in), else its path. */
export function anchorLabel(cli: string): string {
  const r = spawnSync("git", ["-C", dirname(cli), "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  return r.status === 0 ? `anchor build ${r.stdout.trim()}` : `anchor build ${cli}`;
}

/** Percentiles of pooled samples. */
function quantiles(xs: number[]): { samples: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((x, y) => x - y);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return { samples: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? Number.NaN };
}

/**
 * With HALFOPEN_ANCHOR_CLI (another build's dist/cli/main.js, e.g. today's main): CPU at 10,000/s and the latency,
 * this build and the anchor alternating, two rounds each, in the same run.
 */
async function anchorComparison(lab: Lab, anchor: string, quick: boolean): Promise<string[]> {
  const cpu: Record<"this" | "anchor", number[]> = { this: [], anchor: [] };
  const lat: Record<"this" | "anchor", number[]> = { this: [], anchor: [] };
  for (let round = 0; round < 2; round++) {
    for (const which of round % 2 === 0 ? (["this", "anchor"] as const) : (["anchor", "this"] as const)) {
      const cli = which === "anchor" ? anchor : undefined;
      cpu[which].push((await measureCpu(lab, 10_000, quick ? 6000 : 15_000, cli)).cpuPercent);
      lat[which].push(...(await measureLatency(lab, quick ? 20 : 100, cli ? { cli } : {})).latencies);
    }
  }
  const row = (which: "this" | "anchor") => {
    const q = quantiles(lat[which]);
    return `| ${which === "this" ? "this build" : anchorLabel(anchor)} | ${cpu[which].map((c) => c.toFixed(1)).join(", ")} | ${q.samples} | ${q.p50.toFixed(1)} ms | **${q.p99.toFixed(1)} ms** | ${q.max.toFixed(1)} ms |`;
  };
  return [
    "",
    "### Against the anchor build, same run",
    "",
    "CPU at 10,000/s (the workload above, 15 s) and the latency (5,000/s background), this build and the anchor alternating, two rounds each:",
    "",
    "| build | CPU, % of one core (each round) | incidents | p50 | p99 | max |",
    "|---|---|---:|---:|---:|---:|",
    row("this"),
    row("anchor"),
  ];
}

function pct(n: number, d: number): string {
  return d === 0 ? "n/a" : `${((100 * n) / d).toFixed(2)}%`;
}

/** Why this part cannot run here, or undefined. */
export function monitorBenchSkipReason(): string | undefined {
  return labSkipReason() ?? (spawnSync("bpftrace", ["--version"]).status === 0 ? undefined : "needs bpftrace for the in-kernel anchor (apt-get install bpftrace)");
}

/** Run the monitor benchmark; returns its RESULTS.md section. Needs dist/ built. */
export async function runMonitorBench(quick: boolean): Promise<string> {
  const lab = createLab("hobench");
  labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
  labSysctl(lab, "net.ipv4.tcp_tw_reuse", "1");
  const servers = startServers(lab);
  await sleep(500);
  try {
    const dur = quick ? 3000 : 10_000;
    const rates: RateRow[] = [];
    for (const rate of [1000, 5000, 20_000]) rates.push(await measureRate(lab, rate, dur));
    const cpu = await measureCpu(lab, 10_000, quick ? 6000 : 15_000);
    const latency = await measureLatency(lab, quick ? 30 : 200);
    const anchor = process.env.HALFOPEN_ANCHOR_CLI;
    const comparison = anchor ? await anchorComparison(lab, anchor, quick) : [];
    const when = new Date().toISOString();
    const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
    mkdirSync(`${REPO}bench/out`, { recursive: true });
    writeFileSync(`${REPO}bench/out/monitor.json`, JSON.stringify({ when, machine, rates, cpu, latency }, null, 2));
    const md = [
      "## The Linux monitor (`halfopen watch`, tracefs source)",
      "",
      `Run: ${when}, \`npm run bench${quick ? " -- --quick" : ""}\` on ${machine}.`,
      "Workload: three generator processes in a test network namespace, a third of the rate each, to dropped ports (SYNs",
      "dropped by nftables; destroyed after 300 ms), a refused port and open ports, for " + `${dur / 1000} s per rate.`,
      "Truth = connects each generator issued minus local errors. The anchors ran in the same run, on the same workload:",
      "`bpftrace` counting CLOSE->SYN_SENT per pid in the kernel, and `ss -tanp state syn-sent` polled once a second.",
      "",
      "### Capture and attribution",
      "",
      "| target rate | achieved | truth | watch (right pid) | share | lost events | bpftrace | ss 1/s |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rates.map((r) => `| ${r.rate}/s | ${r.achievedRate}/s | ${r.truth} | ${r.watchRightPid} | ${pct(r.watchRightPid, r.truth)} | ${r.lost} | ${r.bpftrace} (${pct(r.bpftrace, r.truth)}) | ${r.ss} (${pct(r.ss, r.truth)}) |`),
      "",
      "Per generator (truth / watch / bpftrace / ss):",
      "",
      ...rates.map((r) => `- ${r.rate}/s: ${r.perKind.map((k) => `${k.title} ${k.truth}/${k.watch}/${k.bpftrace}/${k.ss}`).join("; ")}`),
      "",
      "### CPU and memory of `watch`",
      "",
      `At a target of ${cpu.rate}/s (${cpu.attempts} attempts seen): **${cpu.cpuPercent.toFixed(1)}% of one core**, RSS ${cpu.rssMb.toFixed(1)} MB (peak ${cpu.hwmMb.toFixed(1)} MB). Goal: < 30%, < 150 MB.`,
      "",
      "### Latency to the incident line",
      "",
      `From the kernel timestamp of the (limit+1)-th concurrent attempt to the \`incident-open\` JSON line read by the bench, over ${latency.samples} incidents (bursts of 11 dropped connects), with ${latency.background}/s refused and open connects in the background: **p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms**, max ${latency.max.toFixed(1)} ms. Goal: p99 < 50 ms.`,
      "",
      ...comparison,
      "",
      "Numbers come from one run on a shared 2-core machine; the generators and watch compete for the same cores.",
      "",
    ].join("\n");
    return md;
  } finally {
    servers.kill();
    destroyLab(lab);
  }
}

