/**
 * The always-on cost (issue 32; part `cost` of `npm run bench`, root and
 * bpftrace, ~25 minutes). What one monitor costs while a generator in a test
 * namespace (198.18.0.1, SYNs to 10000-19999 dropped by nftables) makes
 * connects at 10,000 and 20,000 a second (and 1,000, for watch, the anchor
 * and bpftrace printing), in rounds that alternate the order. The generator is
 * bench/connect-gen.c, built with the host's cc: it holds 20,000/s steady at
 * about a third of a core, where generator.mjs took a whole one and fell
 * behind beside a tracer on 2 cores (without cc the bench uses it, and says so):
 *
 *   - the generator alone (the baseline of the host's CPU);
 *   - `halfopen watch --json --no-store --interval 0` (this build), exact per attempt;
 *   - the same with the memory cap the systemd unit offers (NODE_OPTIONS=--max-semi-space-size=4: what it costs in CPU);
 *   - `bpftrace` printing one line per CLOSE->SYN_SENT (pid, comm, destination): a bcc tcpconnect-like tracer;
 *   - `bpftrace` counting per pid in the kernel (prints only at the end): the floor.
 *
 * For each: the tracer's own CPU (/proc/PID/stat, user + system) and the
 * host's CPU above the generator alone (/proc/stat: tracing cost charged in
 * the kernel shows up there), over two windows of each run: "cold", from 2 s
 * after the load began (a watch started just before it: V8 still compiling
 * its hot path), and "warm", the last seconds of the same run (a watch that
 * has run for a while, as the unit does); medians of the
 * rounds; and CPU per attempt made (a tracer that slows the generator, which
 * then fails attempts with EMFILE, is not credited for the attempts it did
 * not have to see). Then watch on an idle host (all threads' schedstat over
 * 30 s after start and 60 s from the second minute) and its peak RSS at
 * 20,000/s, as a user runs it and with the unit's memory cap (V8
 * flags). With HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js another build
 * of watch (today's main) runs in every round too, and idle and RSS.
 * Results: its section of bench/RESULTS.md and bench/out/cost.json.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createLab, destroyLab, labSkipReason, labSysctl, LAB_ADDRESS, DROPPED_RANGE, type Lab } from "../test/integration/lab.js";
import { anchorLabel, connectGenBinary, procStat, runConnectGenerator, startWatch, stopChild } from "./monitor.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const HZ = 100; // USER_HZ

type Config = "generator alone" | "watch" | "watch (memory cap)" | "watch (anchor build)" | "bpftrace printing" | "bpftrace counting";
/** Another build of watch measured in the same run (today's main, say): `HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js`. */
const ANCHOR_CLI = process.env.HALFOPEN_ANCHOR_CLI;
const CONFIGS: Config[] = ["generator alone", "watch", "watch (memory cap)", ...(ANCHOR_CLI ? (["watch (anchor build)"] as const) : []), "bpftrace printing", "bpftrace counting"];

/** The rates measured; at 1,000/s only watch, the anchor and bpftrace printing (and the generator alone, for the host). */
const RATES = [1000, 10_000, 20_000];
function configsAt(rate: number): Config[] {
  return rate >= 10_000 ? CONFIGS : CONFIGS.filter((c) => c === "generator alone" || c === "watch" || c === "watch (anchor build)" || c === "bpftrace printing");
}

/** The memory cap the systemd unit offers (its commented `#Environment=NODE_OPTIONS=...` line): what it costs in CPU. */
const SERVICE_NODE_OPTIONS = /^#?Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(new URL("../deploy/halfopen.service", import.meta.url), "utf8"))?.[1] ?? "";
const SERVICE_ENV: NodeJS.ProcessEnv = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${SERVICE_NODE_OPTIONS}`.trim() };

/** Non-idle jiffies of the whole host (user, nice, system, irq, softirq, steal), and all of them. */
function hostTicks(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

const PRINTING = 'tracepoint:sock:inet_sock_set_state /args->newstate == 2 && args->oldstate == 7 && args->protocol == 6/ { printf("%d %s %s %d\\n", pid, comm, ntop(args->daddr), args->dport); }';
const COUNTING = "tracepoint:sock:inet_sock_set_state /args->newstate == 2 && args->oldstate == 7 && args->protocol == 6/ { @[pid] = count(); }";

/** A tracer, started and ready; its output drained (counted) as a consumer would. */
async function startTracer(config: Config): Promise<{ child: ChildProcess; lines: () => number; stop: () => Promise<void> } | undefined> {
  if (config === "generator alone") return undefined;
  if (config === "watch" || config === "watch (memory cap)" || config === "watch (anchor build)") {
    const w = startWatch(["--no-store", "--interval", "0", "--buffer-kb", "16384"], config === "watch (memory cap)" ? SERVICE_ENV : {}, config === "watch (anchor build)" ? ANCHOR_CLI : undefined);
    await w.started;
    return { child: w.child, lines: () => w.records.length, stop: () => stopChild(w.child) };
  }
  const child = spawn("bpftrace", ["-B", "full", "-e", config === "bpftrace printing" ? PRINTING : COUNTING], { stdio: ["ignore", "pipe", "pipe"] });
  let count = 0;
  let attached: () => void = () => {};
  const ready = new Promise<void>((r) => (attached = r));
  createInterface({ input: child.stdout! }).on("line", (l) => {
    count++;
    if (l.startsWith("Attaching")) attached();
  });
  await Promise.race([ready, sleep(8000)]);
  await sleep(300);
  // bpftrace has been seen to hang on SIGINT after a run (once in 24 here): SIGKILL after 10 s.
  const stop = async () => {
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await stopChild(child);
    clearTimeout(t);
  };
  return { child, lines: () => count, stop };
}

interface Sample {
  config: Config;
  rate: number;
  round: number;
  /** The tracer's own CPU, % of one core: in the cold window, and in the warm one. */
  ownCpu: number;
  ownCpuWarm: number;
  /** The host's busy CPU, % of one core (all cores summed), in each window. */
  hostCpu: number;
  hostCpuWarm: number;
  attempts: number;
  lines: number;
}

/** The run's two windows: cold from 2 s after the load began, warm ending 1 s before it ends; `windowMs` each. */
interface Windows {
  durationMs: number;
  windowMs: number;
}

async function measure(lab: Lab, config: Config, rate: number, round: number, w: Windows): Promise<Sample> {
  const tracer = await startTracer(config);
  const dropped = Array.from({ length: 1000 }, (_, i) => DROPPED_RANGE[0] + i);
  const gen = runConnectGenerator(lab, { title: `cost-gen-${round}`, host: LAB_ADDRESS, ports: dropped, rate, durationMs: w.durationMs, holdMs: 300 });
  const pid = tracer?.child.pid;
  const window = async (): Promise<{ own: number; host: number }> => {
    const a = pid === undefined ? undefined : procStat(pid);
    const h0 = hostTicks();
    const t0 = nowMs();
    await sleep(w.windowMs);
    const b = pid === undefined ? undefined : procStat(pid);
    const h1 = hostTicks();
    const seconds = (nowMs() - t0) / 1000;
    return { own: a && b ? ((b.cpuTicks - a.cpuTicks) / HZ / seconds) * 100 : 0, host: ((h1.busy - h0.busy) / HZ / seconds) * 100 };
  };
  await sleep(2000);
  const cold = await window();
  await sleep(w.durationMs - 2000 - 2 * w.windowMs - 1000);
  const warm = await window();
  const g = await gen;
  const lines = tracer?.lines() ?? 0;
  await tracer?.stop();
  log(`${config} at ${rate}/s, round ${round}: own ${cold.own.toFixed(1)}% cold, ${warm.own.toFixed(1)}% warm; host ${cold.host.toFixed(1)}%, ${warm.host.toFixed(1)}%; ${g.issued} attempts`);
  return { config, rate, round, ownCpu: cold.own, ownCpuWarm: warm.own, hostCpu: cold.host, hostCpuWarm: warm.host, attempts: g.issued - g.localErrors, lines };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** watch on an idle host: its CPU over the first `seconds` after start (V8 still settling its heap) and over the same span from the second minute on (steady). */
async function idleWatch(seconds: number, cli?: string): Promise<{ cpu: number; steadyCpu: number }> {
  const w = startWatch(["--no-store", "--interval", "0"], {}, cli);
  await w.started;
  const pid = w.child.pid as number;
  // CPU time of all its threads in ns (schedstat), not 10 ms ticks: an idle watch uses a few ms a second.
  const onCpuNs = () => readdirSync(`/proc/${pid}/task`).reduce((n, t) => n + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]), 0);
  const window = async (ms: number) => {
    const a = onCpuNs();
    const t0 = nowMs();
    await sleep(ms);
    return ((onCpuNs() - a) / 1e6 / (nowMs() - t0)) * 100;
  };
  await sleep(3000);
  const cpu = await window(seconds * 1000);
  await sleep(Math.max(0, 60_000 - (seconds + 3) * 1000));
  const steadyCpu = await window(seconds * 2000);
  await stopChild(w.child);
  return { cpu, steadyCpu };
}

/** Peak RSS of watch under load (its CPU is measured in the rounds above, where it is comparable). */
async function peakRss(lab: Lab, rate: number, durationMs: number, cli?: string, env: NodeJS.ProcessEnv = {}): Promise<{ hwmMb: number }> {
  const w = startWatch(["--no-store", "--interval", "0", "--buffer-kb", "16384"], env, cli);
  await w.started;
  const pid = w.child.pid as number;
  const dropped = Array.from({ length: 1000 }, (_, i) => DROPPED_RANGE[0] + i);
  await runConnectGenerator(lab, { title: "cost-rss", host: LAB_ADDRESS, ports: dropped, rate, durationMs, holdMs: 300 });
  const s = procStat(pid);
  await stopChild(w.child);
  return { hwmMb: s.hwmKb / 1024 };
}

export function costBenchSkipReason(): string | undefined {
  return labSkipReason() ?? (spawnSync("bpftrace", ["--version"]).status === 0 ? undefined : "needs bpftrace (apt-get install bpftrace): the anchors are bpftrace printing and counting the same events");
}

export async function runCostBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const lab = createLab("hocost");
  labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
  labSysctl(lab, "net.ipv4.tcp_tw_reuse", "1");
  const rounds = quick ? 1 : 3;
  const w: Windows = quick ? { durationMs: 10_000, windowMs: 3000 } : { durationMs: 21_000, windowMs: 8000 };
  const samples: Sample[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const rate of RATES) {
        // Alternate the order each round, so drift (other load, thermal) does not favour one.
        const configs = configsAt(rate);
        const order = round % 2 === 1 ? configs : [...configs].reverse();
        for (const config of order) samples.push(await measure(lab, config, rate, round, w));
      }
    }
    const idle = await idleWatch(quick ? 10 : 30);
    const anchorIdle = ANCHOR_CLI ? await idleWatch(quick ? 10 : 30, ANCHOR_CLI) : undefined;
    // Peak RSS at 20,000/s: this build as a user runs it (and the unit and the image), with the memory cap, and the anchor
    // build; alternating, medians of the rounds (one run is noisy: when V8 collects decides the peak).
    const rssRuns: { mine: number[]; service: number[]; anchor: number[] } = { mine: [], service: [], anchor: [] };
    const rssMs = quick ? 5000 : 10_000;
    for (let round = 1; round <= rounds; round++) {
      const runs: [keyof typeof rssRuns, () => Promise<{ hwmMb: number }>][] = [
        ["mine", () => peakRss(lab, 20_000, rssMs)],
        ["service", () => peakRss(lab, 20_000, rssMs, undefined, SERVICE_ENV)],
      ];
      if (ANCHOR_CLI) runs.push(["anchor", () => peakRss(lab, 20_000, rssMs, ANCHOR_CLI)]);
      for (const [name, run] of round % 2 === 1 ? runs : runs.reverse()) rssRuns[name].push((await run()).hwmMb);
    }
    const rss = { hwmMb: median(rssRuns.mine), rounds: rssRuns.mine };
    const serviceRss = { hwmMb: median(rssRuns.service), rounds: rssRuns.service, nodeOptions: SERVICE_NODE_OPTIONS };
    const anchorRss = ANCHOR_CLI ? { hwmMb: median(rssRuns.anchor), rounds: rssRuns.anchor } : undefined;
    const rows = RATES.flatMap((rate) => {
      const base = median(samples.filter((s) => s.config === "generator alone" && s.rate === rate).map((s) => s.hostCpu));
      const baseWarm = median(samples.filter((s) => s.config === "generator alone" && s.rate === rate).map((s) => s.hostCpuWarm));
      return configsAt(rate).map((config) => {
        const mine = samples.filter((s) => s.config === config && s.rate === rate);
        // CPU per attempt made (the generator's own count, local errors left out): fair when a tracer slows the generator.
        const perAttempt = (cpu: (s: Sample) => number) => median(mine.map((s) => (cpu(s) / 100 / (s.attempts / (w.durationMs / 1000))) * 1e6));
        return {
          rate,
          config,
          ownCpu: median(mine.map((s) => s.ownCpu)),
          ownCpuRounds: mine.map((s) => s.ownCpu),
          usPerAttempt: perAttempt((s) => s.ownCpu),
          ownCpuWarm: median(mine.map((s) => s.ownCpuWarm)),
          ownCpuWarmRounds: mine.map((s) => s.ownCpuWarm),
          usPerAttemptWarm: perAttempt((s) => s.ownCpuWarm),
          hostOverBase: median(mine.map((s) => s.hostCpu)) - base,
          hostOverBaseWarm: median(mine.map((s) => s.hostCpuWarm)) - baseWarm,
          hostCpu: median(mine.map((s) => s.hostCpu)),
          attempts: median(mine.map((s) => s.attempts)),
        };
      });
    });
    const at = (rate: number, config: Config) => rows.find((r) => r.rate === rate && r.config === config);
    const ratio = (rate: number, config: Config = "watch", warm = false) => {
      const us = (c: Config) => (warm ? at(rate, c)?.usPerAttemptWarm : at(rate, c)?.usPerAttempt) ?? 0;
      return us(config) / Math.max(0.001, us("bpftrace printing"));
    };
    const ratios = (config: Config) => `${ratio(10_000, config).toFixed(2)}× and ${ratio(20_000, config).toFixed(2)}× cold, ${ratio(10_000, config, true).toFixed(2)}× and ${ratio(20_000, config, true).toFixed(2)}× warm`;
    const when = new Date().toISOString();
    const fmt = (x: number) => x.toFixed(1);
    const alone = (r: { config: Config }) => r.config === "generator alone";
    const markdown = [
      "## Always-on cost (`--only cost`)",
      "",
      `Run ${when}, ${rounds} round(s) of ${w.durationMs / 1000} s per configuration and rate, the order alternating each round; ${connectGenBinary() ? "a generator in C (bench/connect-gen.c)" : "the Node generator (bench/generator.mjs; no cc to build bench/connect-gen.c)"} in a test namespace connects to dropped ports (each attempt held 300 ms); each tracer starts just before its run. Own CPU: the tracer's user + system time (% of one core) over two ${w.windowMs / 1000} s windows of each run: **cold**, from 2 s after the load began (watch's V8 still compiling its hot path), and **warm**, ending 1 s before the load does (a watch that has been running, as the unit's does); host: all cores' busy time above the generator alone (tracing work charged in the kernel shows there), cold and warm. Medians of the rounds; the rounds' own CPU in their columns. At 1,000/s only watch, the anchor and bpftrace printing run: each read of the buffers carries few attempts there.`,
      "",
      "| rate | configuration | attempts made (median) | own CPU cold | rounds | µs per attempt cold | own CPU warm | rounds | µs per attempt warm | host CPU over the generator alone, cold / warm |",
      "|---:|---|---:|---:|---|---:|---:|---|---:|---:|",
      ...rows.map((r) =>
        alone(r)
          ? `| ${r.rate}/s | ${r.config} | ${Math.round(r.attempts).toLocaleString("en")} | - | - | - | - | - | - | (base ${fmt(r.hostCpu)}%) |`
          : `| ${r.rate}/s | ${r.config} | ${Math.round(r.attempts).toLocaleString("en")} | ${fmt(r.ownCpu)}% | ${r.ownCpuRounds.map(fmt).join(", ")} | ${r.usPerAttempt.toFixed(2)} | ${fmt(r.ownCpuWarm)}% | ${r.ownCpuWarmRounds.map(fmt).join(", ")} | ${r.usPerAttemptWarm.toFixed(2)} | ${fmt(r.hostOverBase)}% / ${fmt(r.hostOverBaseWarm)}% |`,
      ),
      "",
      `watch's own CPU per attempt over bpftrace printing's at 10,000/s and 20,000/s: **${ratios("watch")}** (goal: at most 0.33× at 20,000/s); with the memory cap the unit offers (NODE_OPTIONS=${SERVICE_NODE_OPTIONS}) ${ratios("watch (memory cap)")}${ANCHOR_CLI ? `; the ${anchorLabel(ANCHOR_CLI)}'s: ${ratios("watch (anchor build)")}` : ""}; at 1,000/s: ${ratio(1000).toFixed(2)}× cold, ${ratio(1000, "watch", true).toFixed(2)}× warm${ANCHOR_CLI ? ` (the anchor's ${ratio(1000, "watch (anchor build)").toFixed(2)}× and ${ratio(1000, "watch (anchor build)", true).toFixed(2)}×)` : ""}. Idle (no load; all threads' CPU time from schedstat): **${idle.cpu.toFixed(2)}%** of one core over the ${quick ? 10 : 30} s after start, **${idle.steadyCpu.toFixed(2)}%** over ${quick ? 20 : 60} s from the second minute on (goal < 0.3%). Peak RSS at 20,000/s (medians of ${rounds} alternating run(s)): **${rss.hwmMb.toFixed(1)} MB** as a user runs it (${rss.rounds.map((x) => x.toFixed(0)).join(", ")}), **${serviceRss.hwmMb.toFixed(1)} MB** with the memory cap (${serviceRss.rounds.map((x) => x.toFixed(0)).join(", ")}) (goal < 100 MB).${anchorIdle && anchorRss ? ` The ${ANCHOR_CLI ? anchorLabel(ANCHOR_CLI) : ""}, same run: idle ${anchorIdle.cpu.toFixed(2)}% and ${anchorIdle.steadyCpu.toFixed(2)}% settled, peak RSS ${anchorRss.hwmMb.toFixed(1)} MB (${anchorRss.rounds.map((x) => x.toFixed(0)).join(", ")}).` : ""}`,
    ].join("\n");
    return { markdown, json: { when, rounds, windows: w, anchor: ANCHOR_CLI, samples, rows, idle, rss, serviceRss, anchorIdle, anchorRss } };
  } finally {
    destroyLab(lab);
  }
}
