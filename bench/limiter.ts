/**
 * The benchmark of the limiter library (part of `npm run bench`).
 *
 * 1. Throughput (no privileges): 50,000 connects to a loopback server (its own
 *    process, 127.0.0.1) with 256 in flight: the anchor is plain net.connect
 *    from a pool of 256 workers; the limiter is measured with the same pool
 *    (limiter-pool, nothing queues) and with all 50,000 submitted at once
 *    (limiter-all, the queue holds the rest). Rounds alternate; medians compared.
 * 2. The XP bound (root, netns lab): attempts to ports whose SYNs nftables
 *    drops, maxHalfOpen 10, connect timeout T: they cannot finish before
 *    count / 10 × T. The limiter's wall time against that bound, and against a
 *    hand-written pool of 10 with the same timeout (the anchor), same run.
 * Each measurement runs bench/limiter-client.mjs in a fresh process (dist/).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { jsonFromChild } from "./json-child.js";
import { createLab, destroyLab, labSkipReason, spawnInLab, LAB_ADDRESS, DROPPED_RANGE } from "../test/integration/lab.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const CLIENT = `${REPO}bench/limiter-client.mjs`;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface ClientResult {
  elapsedMs: number;
  connected: number;
  failed: number;
  codes: Record<string, number>;
  peakInFlight?: number;
}

const runClient = (child: ChildProcess) => jsonFromChild<ClientResult>(child, "limiter-client");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function loopbackServer(): Promise<{ port: number; child: ChildProcess }> {
  const code = `const net=require("net");const s=net.createServer(c=>c.on("error",()=>{}));s.listen({port:0,host:"127.0.0.1",backlog:4096},()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return { port: Number(line), child };
}

export interface ThroughputResult {
  count: number;
  concurrency: number;
  rounds: number;
  ms: Record<"plain-pool" | "limiter-pool" | "limiter-all", number[]>;
  errors: number;
}

async function measureThroughput(count: number, concurrency: number, rounds: number): Promise<ThroughputResult> {
  const server = await loopbackServer();
  const modes = ["plain-pool", "limiter-pool", "limiter-all"] as const;
  const ms: ThroughputResult["ms"] = { "plain-pool": [], "limiter-pool": [], "limiter-all": [] };
  let errors = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of modes) {
        const spec = { mode, count, concurrency, host: "127.0.0.1", port: server.port };
        const res = await runClient(spawn(process.execPath, [CLIENT, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] }));
        errors += res.failed;
        ms[mode].push(res.elapsedMs);
        log(`throughput round ${r + 1}/${rounds} ${mode}: ${Math.round((count / res.elapsedMs) * 1000)} connects/s`);
      }
    }
  } finally {
    server.child.kill();
  }
  return { count, concurrency, rounds, ms, errors };
}

export interface BoundResult {
  count: number;
  maxHalfOpen: number;
  timeoutMs: number;
  boundMs: number;
  limiterMs: number;
  anchorMs: number;
  limiterCodes: Record<string, number>;
  limiterPeak: number | undefined;
}

async function measureBound(count: number, timeoutMs: number): Promise<BoundResult> {
  const lab = createLab("hobenchlim");
  try {
    const ports = [DROPPED_RANGE[0], DROPPED_RANGE[1]];
    const run = (mode: string) => runClient(spawnInLab(lab, process.execPath, [CLIENT, JSON.stringify({ mode, count, concurrency: 10, host: LAB_ADDRESS, ports, connectTimeoutMs: timeoutMs })], { stdio: ["ignore", "pipe", "pipe"] }));
    log(`bound: ${count} dropped attempts, maxHalfOpen 10, timeout ${timeoutMs} ms (limiter), then the hand-written pool`);
    const limiter = await run("limiter-all");
    log(`bound: limiter ${Math.round(limiter.elapsedMs)} ms`);
    const anchor = await run("plain-pool");
    log(`bound: pool ${Math.round(anchor.elapsedMs)} ms`);
    return { count, maxHalfOpen: 10, timeoutMs, boundMs: (count / 10) * timeoutMs, limiterMs: limiter.elapsedMs, anchorMs: anchor.elapsedMs, limiterCodes: limiter.codes, limiterPeak: limiter.peakInFlight };
  } finally {
    destroyLab(lab);
  }
}

const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

/** Run the limiter benchmark; returns its RESULTS.md section. Needs dist/ built. */
export async function runLimiterBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const throughput = await measureThroughput(quick ? 20_000 : 50_000, 256, quick ? 3 : 5);
  const boundSkip = labSkipReason();
  const bound = boundSkip ? undefined : await measureBound(quick ? 200 : 1000, quick ? 500 : 1000);
  const when = new Date().toISOString();
  const med = (m: keyof ThroughputResult["ms"]) => median(throughput.ms[m]);
  const plain = med("plain-pool");
  const row = (m: keyof ThroughputResult["ms"], label: string) =>
    `| ${label} | ${rate(throughput.count, med(m))}/s | ${throughput.ms[m].map((x) => rate(throughput.count, x)).join(", ")} | ${(plain / med(m)).toFixed(3)} |`;
  const lines = [
    "## The limiter library (`halfopen/limiter`)",
    "",
    `Run: ${when}, \`npm run bench${quick ? " -- --quick" : ""}\`. Each measurement is a fresh Node process (bench/limiter-client.mjs, built dist/).`,
    "",
    "### Throughput on loopback",
    "",
    `${throughput.count.toLocaleString("en")} connects to a server process on 127.0.0.1, ${throughput.concurrency} in flight, each reset on connect. ${throughput.rounds} rounds, modes alternating; the ratio is the mode's median throughput over the anchor's. Failed connects: ${throughput.errors}. Goal: ratio ≥ 0.95.`,
    "",
    "| mode | median | each round | throughput ratio |",
    "|---|---:|---|---:|",
    row("plain-pool", "`net.connect`, pool of 256 (anchor)"),
    row("limiter-pool", "limiter (N = 256), same pool"),
    row("limiter-all", "limiter (N = 256), all submitted at once"),
    "",
    "### The XP bound: dropped attempts",
    "",
  ];
  if (bound) {
    const over = (ms: number) => `${(((ms - bound.boundMs) / bound.boundMs) * 100).toFixed(2)}%`;
    lines.push(
      `${bound.count} attempts to ports whose SYNs nftables drops (test namespace, 198.18.0.1), maxHalfOpen ${bound.maxHalfOpen}, connect timeout ${bound.timeoutMs} ms: no schedule can finish before ${bound.count} / ${bound.maxHalfOpen} × ${bound.timeoutMs} ms = **${(bound.boundMs / 1000).toFixed(1)} s**. Goal: within 5%.`,
      "",
      "| | wall time | over the bound |",
      "|---|---:|---:|",
      `| limiter (all submitted at once; peak in flight ${bound.limiterPeak ?? "?"}) | ${(bound.limiterMs / 1000).toFixed(2)} s | ${over(bound.limiterMs)} |`,
      `| hand-written pool of 10 with setTimeout (anchor) | ${(bound.anchorMs / 1000).toFixed(2)} s | ${over(bound.anchorMs)} |`,
      "",
      `Outcomes through the limiter: ${Object.entries(bound.limiterCodes).map(([k, v]) => `${k} ${v}`).join(", ")}.`,
    );
  } else {
    lines.push(`Not measured in this run: ${boundSkip}.`);
  }
  lines.push("");
  return { markdown: lines.join("\n"), json: { when, throughput, bound } };
}
