/**
 * What `watch --enforce` costs and what it does to a scanner and to a benign
 * program beside it (part `enforce` of `npm run bench`, root, iptables;
 * ~2 minutes). Everything runs in a lab namespace of its own, on its
 * loopback (198.18.0.1; the lab drops SYNs to ports 10000-19999), enforced
 * with --enforce-loopback.
 *
 * 1. Latency added below the limit: one connect at a time to a live
 *    listener, connect() to connected, p50 and p99: no watch (the anchor),
 *    watch without --enforce (monitoring alone), and --enforce 1000000 (every
 *    first SYN through the queue and back, none held). Alternated rounds.
 * 2. Connects per second through the queue path: the monitor part's
 *    generators (a third each to dropped, refused and open ports) at offered
 *    rates, under --enforce 1000000: the rate achieved, the first SYNs the
 *    queue passed per second, and those that went unheld (fail-open); the
 *    same rate without enforcement as the anchor.
 * 3. A scanner (200 connects at once to dropped ports, 2 s timeout) beside a
 *    benign program (a connect to a live port every 100 ms): the scanner's
 *    completion, its SYNs that reached the wire, and the benign connects'
 *    delays, with nothing (anchor), with an nft `limit rate over 10/second
 *    drop` rule on new SYNs (what Linux offers today: the anchor), and with
 *    --enforce 10 per host (slot, and --release-rate 10) and per process.
 * 4. The simulator next to real enforced runs of the same workloads
 *    (docs/does-the-limit-help.md): the scanner vendor's case (254 targets,
 *    the simulator's seed-1 choice of 20% alive answering with a RST, 64
 *    threads, a 1 s timer from connect()) and the article's P2P client with
 *    no limit of its own (200 peers, the seed-1 30% dead, 40 wanted, a 21 s
 *    connect timeout, full rate at 20 peers), each under no enforcement,
 *    --enforce 10 (the simulator's xp) and --enforce 10 --release-rate 10
 *    (xp-rate), beside `simulate`'s prediction for the same seed.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { createLab, destroyLab, DROPPED_RANGE, LAB_ADDRESS, type Lab, spawnInLab } from "../test/integration/lab.js";
import { generators, runGenerator, startServers, startWatch, stopChild } from "./monitor.js";
import { simulateP2p } from "../src/core/sim/p2p-sim.js";
import { seededRandom, simulateScan } from "../src/core/sim/scan-sim.js";
import type { SimPolicy } from "../src/core/sim/gate.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const REPO = new URL("../", import.meta.url).pathname;
const OPEN = 8080;

export function enforceBenchSkipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return "needs root (NFQUEUE, namespaces)";
  try {
    execFileSync("sh", ["-c", "command -v iptables && command -v ip6tables && command -v nft"], { stdio: "ignore" });
  } catch {
    return "needs iptables and nft (Debian packages iptables, nftables)";
  }
  return undefined;
}

function jsonOf(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", () => {
      const last = out.trim().split("\n").pop();
      if (last) resolve(JSON.parse(last) as Record<string, unknown>);
      else reject(new Error("no result"));
    });
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(3) : x.toFixed(0)) : "-");

async function withWatch<T>(lab: Lab, args: string[] | undefined, body: () => Promise<T>): Promise<{ result: T; stop?: Record<string, unknown> }> {
  if (!args) return { result: await body() };
  const w = startWatch(["--interval", "0", "--no-store", "--no-dns", "--no-raw-senders", "--netns", lab.name, ...args]);
  await w.started;
  await sleep(500);
  try {
    const result = await body();
    // Let it see the last ends before it stops (a stop lets every held SYN go).
    await sleep(500);
    await stopChild(w.child);
    return { result, stop: w.records.find((r) => r.type === "stop") };
  } finally {
    await stopChild(w.child);
  }
}

async function latencyRound(lab: Lab, args: string[] | undefined, count: number): Promise<number[]> {
  const { result } = await withWatch(lab, args, async () => (await jsonOf(spawnInLab(lab, process.execPath, [`${REPO}bench/connect-latency.mjs`, JSON.stringify({ host: LAB_ADDRESS, port: OPEN, count, gapMs: 1 })]))).samples as number[]);
  return result;
}

function synCounter(lab: Lab): { read: () => number; remove: () => void } {
  const ns = (input: string) => execFileSync("ip", ["netns", "exec", lab.name, "nft", "-f", "-"], { input });
  ns(`table inet halfopen_bench_count {\n  counter syns { }\n  chain in {\n    type filter hook input priority -10; policy accept;\n    tcp dport ${DROPPED_RANGE[0]}-${DROPPED_RANGE[1]} tcp flags & (syn | ack) == syn counter name "syns"\n  }\n}\n`);
  return {
    read: () => Number(/packets (\d+)/.exec(execFileSync("ip", ["netns", "exec", lab.name, "nft", "list", "counter", "inet", "halfopen_bench_count", "syns"], { encoding: "utf8" }))?.[1] ?? Number.NaN),
    remove: () => ns("delete table inet halfopen_bench_count\n"),
  };
}

interface ScanRow {
  name: string;
  scanMs: number;
  wire: number;
  benign: number[];
  benignFailed: number;
  held?: number;
  abandoned?: number;
}

async function scanRound(lab: Lab, name: string, args: string[] | undefined, nftLimit: boolean): Promise<ScanRow> {
  const ns = (input: string) => execFileSync("ip", ["netns", "exec", lab.name, "nft", "-f", "-"], { input });
  if (nftLimit) ns("table inet halfopen_bench_limit {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    tcp flags & (syn | ack) == syn ct state new limit rate over 10/second drop\n  }\n}\n");
  const counter = synCounter(lab);
  try {
    const { result, stop } = await withWatch(lab, args, async () => {
      const benign = jsonOf(spawnInLab(lab, process.execPath, [`${REPO}bench/connect-latency.mjs`, JSON.stringify({ title: "bench-benign", host: LAB_ADDRESS, port: OPEN, gapMs: 100, durationMs: 4000, timeoutMs: 10_000 })]));
      await sleep(200);
      const ports = Array.from({ length: 200 }, (_, i) => DROPPED_RANGE[0] + 2000 + i);
      const scan = await jsonOf(spawnInLab(lab, process.execPath, [`${REPO}test/integration/enforce-flood.mjs`, JSON.stringify({ title: "bench-scan", host: LAB_ADDRESS, batches: [{ ports }], timeoutMs: 2000 })]));
      const attempts = scan.attempts as { endMs: number }[];
      const b = await benign;
      return { scanMs: Math.max(...attempts.map((a) => a.endMs)), benign: b.samples as number[], benignFailed: b.failed as number };
    });
    const e = (stop?.enforce ?? undefined) as { held: number; abandoned: number } | undefined;
    return { name, ...result, wire: counter.read(), ...(e ? { held: e.held, abandoned: e.abandoned } : {}) };
  } finally {
    counter.remove();
    if (nftLimit) ns("delete table inet halfopen_bench_limit\n");
  }
}

export async function runEnforceBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const lab = createLab("hoenfb");
  const servers = spawnInLab(lab, process.execPath, ["-e", `require("net").createServer((c)=>{c.on("error",()=>{});c.destroy()}).listen({port:${OPEN},host:"${LAB_ADDRESS}",backlog:4096})`]);
  const genServers = startServers(lab);
  await sleep(500);
  const when = new Date().toISOString();
  try {
    // 1. Latency below the limit.
    const count = quick ? 500 : 2000;
    const configs: { name: string; args: string[] | undefined }[] = [
      { name: "no watch (anchor)", args: undefined },
      { name: "watch, no --enforce", args: [] },
      { name: "watch --enforce 1000000 (every SYN through the queue)", args: ["--enforce", "1000000", "--enforce-loopback"] },
    ];
    const lat = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    const rounds = quick ? 2 : 4;
    for (let round = 0; round < rounds; round++) {
      for (const c of configs) {
        log(`enforce: latency, ${c.name}, round ${round + 1}`);
        lat.get(c.name)?.push(...(await latencyRound(lab, c.args, count)));
      }
    }
    const anchor = lat.get(configs[0]?.name as string) as number[];
    const latRows = configs.map((c) => {
      const xs = lat.get(c.name) as number[];
      return { name: c.name, n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), addedP50: pct(xs, 50) - pct(anchor, 50), addedP99: pct(xs, 99) - pct(anchor, 99) };
    });

    // 2. Throughput through the queue path.
    const durationMs = quick ? 3000 : 5000;
    const rates = quick ? [20_000] : [10_000, 20_000, 30_000];
    const thr: { rate: number; config: string; achieved: number; queued?: number; unheld?: number }[] = [];
    for (const rate of rates) {
      for (const config of ["anchor: no watch", "--enforce 1000000"]) {
        log(`enforce: ${rate}/s, ${config}`);
        const args = config === "anchor: no watch" ? undefined : ["--enforce", "1000000", "--enforce-loopback", "--limit", "1000000"];
        const { result, stop } = await withWatch(lab, args, async () => {
          const t0 = performance.now();
          const gens = await Promise.all(generators(rate, durationMs, "enf").map((g) => runGenerator(lab, g)));
          return { issued: gens.reduce((n, g) => n + g.issued - g.localErrors, 0), wallMs: performance.now() - t0 };
        });
        const e = stop?.enforce as { syns: number; unqueued: number; queue: { packets: number } } | undefined;
        if (e) log(`enforce: ${JSON.stringify(e)} lost ${JSON.stringify((stop as { lostEvents?: number }).lostEvents)}`);
        thr.push({ rate, config, achieved: (result.issued / durationMs) * 1000, ...(e ? { queued: (e.queue.packets / durationMs) * 1000, unheld: e.unqueued } : {}) });
      }
    }

    // 3. A scanner and a benign program.
    const scans: ScanRow[] = [];
    for (const [name, args, nft] of [
      ["nothing (anchor)", undefined, false],
      ["nft limit rate over 10/s drop (anchor: Linux today)", undefined, true],
      ["--enforce 10 (per host, slot)", ["--enforce", "10", "--enforce-loopback"], false],
      ["--enforce 10 --release-rate 10", ["--enforce", "10", "--release-rate", "10", "--enforce-loopback"], false],
      ["--enforce 10 --per process", ["--enforce", "10", "--per", "process", "--enforce-loopback"], false],
    ] as [string, string[] | undefined, boolean][]) {
      log(`enforce: scanner beside a benign program, ${name}`);
      scans.push(await scanRound(lab, name, args, nft));
    }

    // 4. The simulator next to real enforced runs.
    const rttMs = pct(lat.get(configs[0]?.name as string) as number[], 50);
    const policies: { name: string; args: string[] | undefined; sim: SimPolicy }[] = [
      { name: "none", args: undefined, sim: { kind: "none" } },
      { name: "xp (--enforce 10)", args: ["--enforce", "10", "--enforce-loopback"], sim: { kind: "xp", limit: 10 } },
      { name: "xp-rate (--enforce 10 --release-rate 10)", args: ["--enforce", "10", "--release-rate", "10", "--enforce-loopback"], sim: { kind: "xp-rate", limit: 10, releasePerSecond: 10 } },
    ];
    const random = seededRandom(1);
    const scanAlive = Array.from({ length: 254 }, () => random() < 0.2);
    const scanPorts = scanAlive.map((a, i) => (a ? 7 : DROPPED_RANGE[0] + 3000 + i));
    // Which held connects win a slot freed at a 1 s boundary depends on the order of events within a millisecond: 3 rounds each.
    const vendorRounds = quick ? 1 : 3;
    const vendor: { name: string; real: { ms: number; found: number }[]; sim: { ms: number; found: number } }[] = [];
    for (const pol of policies) {
      const real: { ms: number; found: number }[] = [];
      for (let round = 0; round < vendorRounds; round++) {
        log(`enforce: the vendor's scan, ${pol.name}, round ${round + 1}`);
        const { result } = await withWatch(lab, pol.args, async () => (await jsonOf(spawnInLab(lab, process.execPath, [`${REPO}bench/vendor-scan.mjs`, JSON.stringify({ host: LAB_ADDRESS, ports: scanPorts, threads: 64, programTimeoutMs: 1000 })]))) as { ms: number; found: number });
        real.push({ ms: result.ms, found: result.found });
      }
      const sim = simulateScan({ targets: 254, alive: 0.2, rttMs, timeoutMs: 21_000, programTimeoutMs: 1000, threads: 64, retries: 0, policy: pol.sim, seed: 1 });
      vendor.push({ name: pol.name, real, sim: { ms: sim.completionMs, found: sim.found } });
    }
    const p2pRandom = seededRandom(1);
    const peerLive = Array.from({ length: 200 }, () => p2pRandom() >= 0.3);
    const peerPorts = peerLive.map((l, i) => (l ? 20_000 + i : DROPPED_RANGE[0] + 4000 + i));
    const peers = spawnInLab(lab, process.execPath, ["-e", `const net=require("net");for(const p of ${JSON.stringify(peerPorts.filter((p) => p >= 20_000))})net.createServer((c)=>{c.on("error",()=>{})}).listen(p,"${LAB_ADDRESS}")`]);
    await sleep(500);
    const p2pMs = quick ? 25_000 : 30_000;
    const p2p: { name: string; real: { connected: number; fullAtMs: number | null }; sim: { connected: number; fullAtMs: number | null } }[] = [];
    try {
      for (const pol of policies) {
        log(`enforce: the P2P client, ${pol.name}`);
        const { result } = await withWatch(lab, pol.args, async () => (await jsonOf(spawnInLab(lab, process.execPath, [`${REPO}bench/p2p-client.mjs`, JSON.stringify({ host: LAB_ADDRESS, ports: peerPorts, want: 40, timeoutMs: 21_000, durationMs: p2pMs, fullAt: 20 })]))) as { connected: number; fullAtMs: number | null });
        const sim = simulateP2p({ peers: 200, dead: 0.3, rttMs, timeoutMs: 21_000, wantConnections: 40, peerRateKBs: 10, capKBs: 200, durationMs: p2pMs, policy: pol.sim, seed: 1 });
        p2p.push({ name: pol.name, real: result, sim: { connected: sim.connected, fullAtMs: sim.fullRateAtMs ?? null } });
      }
    } finally {
      peers.kill();
    }
    const sec = (x: number | null) => (x === null ? "never" : `${(x / 1000).toFixed(2)} s`);

    const md = [
      "## enforce: what `watch --enforce` costs, and what it does to a scanner and its neighbour",
      "",
      `Run ${when}; \`bench/enforce.ts\`. A lab namespace of its own, on its loopback (198.18.0.1), enforced with \`--enforce-loopback\` (NFQUEUE through iptables-nft: this kernel has no nft \`queue\`).`,
      "",
      `### Connect latency below the limit (one connect at a time to a live listener, ${count} per round, ${rounds} rounds alternated)`,
      "",
      "| configuration | connects | p50 ms | p99 ms | added p50 ms | added p99 ms |",
      "|---|---:|---:|---:|---:|---:|",
      ...latRows.map((r) => `| ${r.name} | ${r.n} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.addedP50)} | ${ms(r.addedP99)} |`),
      "",
      `### Connects per second through the queue path (the monitor part's generators, ${durationMs / 1000} s; nothing held)`,
      "",
      "| offered /s | configuration | achieved connects /s | SYNs through the queue /s (resent ones too) | unheld (fail-open) |",
      "|---:|---|---:|---:|---:|",
      ...thr.map((r) => `| ${r.rate.toLocaleString("en-US")} | ${r.config} | ${Math.round(r.achieved).toLocaleString("en-US")} | ${r.queued === undefined ? "-" : Math.round(r.queued).toLocaleString("en-US")} | ${r.unheld ?? "-"} |`),
      "",
      "### A scanner beside a benign program (200 connects at once to dropped ports, 2 s timeout; a connect to a live port every 100 ms)",
      "",
      "| configuration | scanner done s | scanner SYNs on the wire | benign connects | benign p50 ms | benign p99 ms | benign max ms | benign failed | held (abandoned) |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...scans.map((r) => `| ${r.name} | ${(r.scanMs / 1000).toFixed(2)} | ${r.wire} | ${r.benign.length} | ${ms(pct(r.benign, 50))} | ${ms(pct(r.benign, 99))} | ${ms(Math.max(...r.benign))} | ${r.benignFailed} | ${r.held === undefined ? "-" : `${r.held} (${r.abandoned})`} |`),
      "",
      `### The simulator next to real enforced runs (round trip ${ms(rttMs)} ms, the lab's median, given to the simulator)`,
      "",
      `The scanner vendor's case: 254 targets, the simulator's seed-1 choice of 20% alive (a RST at once), 64 threads, a 1 s timer from connect(), no retries; ${vendorRounds} round(s).`,
      "",
      "| policy | real: done (median) | real: found, each round | simulated: done | simulated: found |",
      "|---|---:|---:|---:|---:|",
      ...vendor.map((r) => `| ${r.name} | ${sec(pct(r.real.map((x) => x.ms), 50))} | ${r.real.map((x) => x.found).join(", ")} | ${sec(r.sim.ms)} | ${r.sim.found} |`),
      "",
      `The article's P2P client with no limit of its own: 200 peers, the seed-1 30% dead, 40 wanted, a 21 s connect timeout, full rate at 20 peers, ${p2pMs / 1000} s.`,
      "",
      "| policy | real: full rate at | real: connected | simulated: full rate at | simulated: connected |",
      "|---|---:|---:|---:|---:|",
      ...p2p.map((r) => `| ${r.name} | ${sec(r.real.fullAtMs)} | ${r.real.connected} | ${sec(r.sim.fullAtMs)} | ${r.sim.connected} |`),
      "",
    ].join("\n");
    return { markdown: md, json: { when, latency: latRows, throughput: thr, scanner: scans.map((r) => ({ ...r, benign: { n: r.benign.length, p50: pct(r.benign, 50), p99: pct(r.benign, 99), max: Math.max(...r.benign) } })), vendor, p2p } };
  } finally {
    servers.kill();
    genServers.kill();
    destroyLab(lab);
  }
}
