/**
 * The always-on cost (issue 32; part `cost` of `npm run bench`, root and
 * bpftrace, ~5 minutes). What one monitor costs while a generator in a test
 * namespace (198.18.0.1, SYNs to 10000-19999 dropped by nftables) makes
 * connects at 10,000 and 20,000 a second, in rounds that alternate the order:
 *
 *   - the generator alone (the baseline of the host's CPU);
 *   - `halfopen watch --json --no-store --interval 0` (this build), exact per attempt;
 *   - the same with the systemd unit's NODE_OPTIONS (V8 flags: what its memory setting costs in CPU);
 *   - `bpftrace` printing one line per CLOSE->SYN_SENT (pid, comm, destination): a bcc tcpconnect-like tracer;
 *   - `bpftrace` counting per pid in the kernel (prints only at the end): the floor.
 *
 * For each: the tracer's own CPU (/proc/PID/stat, user + system) and the
 * host's CPU above the generator alone (/proc/stat: tracing cost charged in
 * the kernel shows up there), over the middle of each run; medians of the
 * rounds; and CPU per attempt made (a tracer that slows the generator, which
 * then fails attempts with EMFILE, is not credited for the attempts it did
 * not have to see). Then watch on an idle host (all threads' schedstat over
 * 30 s after start and 60 s from the second minute) and its peak RSS at
 * 20,000/s, as a user runs it and with the systemd unit's NODE_OPTIONS (V8
 * flags). With HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js another build
 * of watch (today's main) runs in every round too, and idle and RSS.
 * Results: its section of bench/RESULTS.md and bench/out/cost.json.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createLab, destroyLab, labSkipReason, labSysctl, LAB_ADDRESS, DROPPED_RANGE, type Lab } from "../test/integration/lab.js";
import { anchorLabel, procStat, runGenerator, startWatch, stopChild } from "./monitor.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const HZ = 100; // USER_HZ

type Config = "generator alone" | "watch" | "watch (the service's NODE_OPTIONS)" | "watch (anchor build)" | "bpftrace printing" | "bpftrace counting";
/** Another build of watch measured in the same run (today's main, say): `HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js`. */
const ANCHOR_CLI = process.env.HALFOPEN_ANCHOR_CLI;
const CONFIGS: Config[] = ["generator alone", "watch", "watch (the service's NODE_OPTIONS)", ...(ANCHOR_CLI ? (["watch (anchor build)"] as const) : []), "bpftrace printing", "bpftrace counting"];

/** The V8 flags the systemd unit (and the image) run watch with: `Environment=NODE_OPTIONS=...` of deploy/halfopen.service. */
const SERVICE_NODE_OPTIONS = /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(new URL("../deploy/halfopen.service", import.meta.url), "utf8"))?.[1] ?? "";
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
  if (config === "watch" || config === "watch (the service's NODE_OPTIONS)" || config === "watch (anchor build)") {
    const w = startWatch(["--no-store", "--interval", "0", "--buffer-kb", "16384"], config === "watch (the service's NODE_OPTIONS)" ? SERVICE_ENV : {}, config === "watch (anchor build)" ? ANCHOR_CLI : undefined);
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
  /** The tracer's own CPU, % of one core. */
  ownCpu: number;
  /** The host's busy CPU, % of one core (all cores summed). */
  hostCpu: number;
  attempts: number;
  lines: number;
}

async function measure(lab: Lab, config: Config, rate: number, round: number, durationMs: number): Promise<Sample> {
  const tracer = await startTracer(config);
  const dropped = Array.from({ length: 1000 }, (_, i) => DROPPED_RANGE[0] + i);
  const gen = runGenerator(lab, { title: `cost-gen-${round}`, host: LAB_ADDRESS, ports: dropped, rate, durationMs, holdMs: 300 });
  await sleep(2000);
  const pid = tracer?.child.pid;
  const a = pid === undefined ? undefined : procStat(pid);
  const h0 = hostTicks();
  const t0 = nowMs();
  await sleep(durationMs - 3000);
  const b = pid === undefined ? undefined : procStat(pid);
  const h1 = hostTicks();
  const t1 = nowMs();
  const g = await gen;
  const lines = tracer?.lines() ?? 0;
  await tracer?.stop();
  const seconds = (t1 - t0) / 1000;
  const ownCpu = a && b ? ((b.cpuTicks - a.cpuTicks) / HZ / seconds) * 100 : 0;
  const hostCpu = ((h1.busy - h0.busy) / HZ / seconds) * 100;
  log(`${config} at ${rate}/s, round ${round}: own ${ownCpu.toFixed(1)}%, host ${hostCpu.toFixed(1)}%, ${g.issued} attempts`);
  return { config, rate, round, ownCpu, hostCpu, attempts: g.issued - g.localErrors, lines };
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
  await runGenerator(lab, { title: "cost-rss", host: LAB_ADDRESS, ports: dropped, rate, durationMs, holdMs: 300 });
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
  const durationMs = quick ? 6000 : 12_000;
  const samples: Sample[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const rate of [10_000, 20_000]) {
        // Alternate the order each round, so drift (other load, thermal) does not favour one.
        const order = round % 2 === 1 ? CONFIGS : [...CONFIGS].reverse();
        for (const config of order) samples.push(await measure(lab, config, rate, round, durationMs));
      }
    }
    const idle = await idleWatch(quick ? 10 : 30);
    const anchorIdle = ANCHOR_CLI ? await idleWatch(quick ? 10 : 30, ANCHOR_CLI) : undefined;
    // Peak RSS at 20,000/s: this build as a user runs it, as the service runs it (its NODE_OPTIONS), and the anchor
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
    const rows = [10_000, 20_000].flatMap((rate) => {
      const base = median(samples.filter((s) => s.config === "generator alone" && s.rate === rate).map((s) => s.hostCpu));
      return CONFIGS.map((config) => {
        const mine = samples.filter((s) => s.config === config && s.rate === rate);
        // CPU per attempt made (the generator's own count, local errors left out): fair when a tracer slows the generator.
        const perAttempt = mine.map((s) => (s.ownCpu / 100 / (s.attempts / (durationMs / 1000))) * 1e6);
        return { rate, config, ownCpu: median(mine.map((s) => s.ownCpu)), ownCpuRounds: mine.map((s) => s.ownCpu), usPerAttempt: median(perAttempt), hostOverBase: median(mine.map((s) => s.hostCpu)) - base, hostCpu: median(mine.map((s) => s.hostCpu)), attempts: median(mine.map((s) => s.attempts)) };
      });
    });
    const at = (rate: number, config: Config) => rows.find((r) => r.rate === rate && r.config === config);
    const ratio = (rate: number, config: Config = "watch") => (at(rate, config)?.usPerAttempt ?? 0) / Math.max(0.001, at(rate, "bpftrace printing")?.usPerAttempt ?? 0);
    const when = new Date().toISOString();
    const fmt = (x: number) => x.toFixed(1);
    const markdown = [
      "## Always-on cost (`--only cost`)",
      "",
      `Run ${when}, ${rounds} round(s) of ${durationMs / 1000} s per configuration and rate, the order alternating each round; a generator in a test namespace connects to dropped ports (each attempt held 300 ms). Own CPU: the tracer's user + system time over the middle ${(durationMs - 3000) / 1000} s (% of one core); host: all cores' busy time above the generator alone (tracing work charged in the kernel shows there). Medians of the rounds; the rounds' own CPU in their column.`,
      "",
      "| rate | configuration | attempts made (median) | own CPU | rounds | CPU µs per attempt | host CPU over the generator alone |",
      "|---:|---|---:|---:|---|---:|---:|",
      ...rows.map((r) => `| ${r.rate}/s | ${r.config} | ${Math.round(r.attempts).toLocaleString("en")} | ${r.config === "generator alone" ? "-" : `${fmt(r.ownCpu)}%`} | ${r.config === "generator alone" ? "-" : r.ownCpuRounds.map(fmt).join(", ")} | ${r.config === "generator alone" ? "-" : r.usPerAttempt.toFixed(2)} | ${r.config === "generator alone" ? `(base ${fmt(r.hostCpu)}%)` : `${fmt(r.hostOverBase)}%`} |`),
      "",
      `watch's own CPU per attempt over bpftrace printing's: **${ratio(10_000).toFixed(2)}×** at 10,000/s, **${ratio(20_000).toFixed(2)}×** at 20,000/s (goal: at most 0.33× at 20,000/s), with the service's NODE_OPTIONS ${ratio(10_000, "watch (the service's NODE_OPTIONS)").toFixed(2)}× and ${ratio(20_000, "watch (the service's NODE_OPTIONS)").toFixed(2)}×${ANCHOR_CLI ? `; the ${ANCHOR_CLI ? anchorLabel(ANCHOR_CLI) : ""}'s: ${ratio(10_000, "watch (anchor build)").toFixed(2)}× and ${ratio(20_000, "watch (anchor build)").toFixed(2)}×` : ""}. Idle (no load; all threads' CPU time from schedstat): **${idle.cpu.toFixed(2)}%** of one core over the ${quick ? 10 : 30} s after start, **${idle.steadyCpu.toFixed(2)}%** over ${quick ? 20 : 60} s from the second minute on (goal < 0.3%). Peak RSS at 20,000/s (medians of ${rounds} alternating run(s)): **${rss.hwmMb.toFixed(1)} MB** as a user runs it (${rss.rounds.map((x) => x.toFixed(0)).join(", ")}), **${serviceRss.hwmMb.toFixed(1)} MB** as the systemd unit and the image run it (NODE_OPTIONS=${SERVICE_NODE_OPTIONS}; ${serviceRss.rounds.map((x) => x.toFixed(0)).join(", ")}) (goal < 100 MB).${anchorIdle && anchorRss ? ` The ${ANCHOR_CLI ? anchorLabel(ANCHOR_CLI) : ""}, same run: idle ${anchorIdle.cpu.toFixed(2)}% and ${anchorIdle.steadyCpu.toFixed(2)}% settled, peak RSS ${anchorRss.hwmMb.toFixed(1)} MB (${anchorRss.rounds.map((x) => x.toFixed(0)).join(", ")}).` : ""}`,
    ].join("\n");
    return { markdown, json: { when, rounds, durationMs, anchor: ANCHOR_CLI, samples, rows, idle, rss, serviceRss, anchorIdle, anchorRss } };
  } finally {
    destroyLab(lab);
  }
}
