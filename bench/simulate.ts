/**
 * The simulator against the real thing (part `simulate` of `npm run bench`):
 * connect scans run for real in the netns lab, through the limiter
 * (halfopen's budget in the program) and through a plain pool of connects
 * (no limit), and the simulator's prediction for the same scan, with the same
 * targets alive, the same timeouts and the round-trip time measured in the
 * lab. Goal (issue 17): each prediction within 10% of the measured wall time.
 *
 * A live target is port 7 on 198.18.0.1 (no listener: the RST answers at
 * once); a dead one is a port whose SYNs nftables drops. Which targets are
 * alive comes from the simulator's own seeded draw, so both sides scan the
 * same list. Each run is a fresh process (bench/sim-client.mjs, built dist/).
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jsonFromChild } from "./json-child.js";
import { type ScanSimSpec, seededRandom, simulateScan } from "../src/core/sim/scan-sim.js";
import type { SimPolicy } from "../src/core/sim/gate.js";
import { createLab, destroyLab, spawnInLab, LAB_ADDRESS, DROPPED_RANGE, REFUSED_PORT } from "../test/integration/lab.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const CLIENT = `${REPO}bench/sim-client.mjs`;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Case {
  name: string;
  mode: "limiter" | "pool";
  targets: number;
  alive: number;
  timeoutMs: number;
  threads?: number;
  maxHalfOpen?: number;
  releasePerSecond?: number;
  seed: number;
}

interface ClientResult {
  elapsedMs: number;
  found: number;
  timedOut: number;
  other: number;
  rttMs: number;
}

interface CaseResult extends Case {
  command: string;
  aliveTargets: number;
  measuredMs: number[];
  predictedMs: number;
  errorPct: number;
  found: number;
  predictedFound: number;
  other: number;
  rttMs: number;
}

const CASES: Case[] = [
  { name: "limiter, dead targets (the closed form ceil(k/N) × T)", mode: "limiter", targets: 100, alive: 0, timeoutMs: 1000, maxHalfOpen: 10, seed: 1 },
  { name: "limiter, 30% alive, all submitted at once", mode: "limiter", targets: 300, alive: 0.3, timeoutMs: 500, maxHalfOpen: 10, seed: 2 },
  { name: "limiter, 40 workers over 10 slots", mode: "limiter", targets: 240, alive: 0.4, timeoutMs: 500, maxHalfOpen: 10, threads: 40, seed: 3 },
  { name: "limiter paced at 20/s, 50% alive", mode: "limiter", targets: 200, alive: 0.5, timeoutMs: 500, maxHalfOpen: 10, releasePerSecond: 20, seed: 4 },
  { name: "no limit: a pool of 25 connects, 20% alive", mode: "pool", targets: 250, alive: 0.2, timeoutMs: 400, threads: 25, seed: 5 },
];

/** The simulator's alive draw (scan-sim.ts draws it the same way). */
function aliveList(c: Case): boolean[] {
  const random = seededRandom(c.seed);
  return Array.from({ length: c.targets }, () => random() < c.alive);
}

function policyOf(c: Case): SimPolicy {
  if (c.mode === "pool") return { kind: "none" };
  return { kind: "halfopen", limit: c.maxHalfOpen ?? 10, ...(c.releasePerSecond ? { releasePerSecond: c.releasePerSecond } : {}) };
}

function commandOf(c: Case, rttMs: number): string {
  const p = policyOf(c);
  return [
    `halfopen simulate scan --targets ${c.targets} --alive ${c.alive} --seed ${c.seed} --timeout ${c.timeoutMs / 1000} --rtt ${rttMs.toFixed(3)}`,
    p.kind === "none" ? "--policy none" : `--policy halfopen --limit ${c.maxHalfOpen}`,
    c.threads ? `--threads ${c.threads}` : "",
    c.releasePerSecond ? `--pace ${c.releasePerSecond}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

const runClient = (child: ChildProcess) => jsonFromChild<ClientResult>(child, "sim-client");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function runSimulateBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const rounds = quick ? 1 : 3;
  const lab = createLab("hobenchsim");
  const results: CaseResult[] = [];
  try {
    for (const c of CASES) {
      const alive = aliveList(c);
      let dead = 0;
      const ports = alive.map((a) => (a ? REFUSED_PORT : DROPPED_RANGE[0] + dead++));
      const measured: ClientResult[] = [];
      for (let r = 0; r < rounds; r++) {
        const spec = { mode: c.mode, host: LAB_ADDRESS, ports, timeoutMs: c.timeoutMs, threads: c.threads, maxHalfOpen: c.maxHalfOpen, releasePerSecond: c.releasePerSecond };
        const res = await runClient(spawnInLab(lab, process.execPath, [CLIENT, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] }));
        measured.push(res);
        log(`simulate: ${c.name}: round ${r + 1}/${rounds} ${Math.round(res.elapsedMs)} ms, found ${res.found}`);
      }
      const rttMs = median(measured.map((m) => m.rttMs));
      const spec: ScanSimSpec = { targets: c.targets, alive: c.alive, seed: c.seed, rttMs, timeoutMs: c.timeoutMs, retries: 0, policy: policyOf(c), ...(c.threads ? { threads: c.threads } : {}) };
      const predicted = simulateScan(spec);
      const measuredMs = measured.map((m) => m.elapsedMs);
      results.push({
        ...c,
        command: commandOf(c, rttMs),
        aliveTargets: alive.filter(Boolean).length,
        measuredMs,
        predictedMs: predicted.completionMs,
        errorPct: ((predicted.completionMs - median(measuredMs)) / median(measuredMs)) * 100,
        found: Math.min(...measured.map((m) => m.found)),
        predictedFound: predicted.found,
        other: measured.reduce((s, m) => s + m.other, 0),
        rttMs,
      });
    }
  } finally {
    destroyLab(lab);
  }
  const when = new Date().toISOString();
  const within = results.filter((r) => Math.abs(r.errorPct) <= 10).length;
  const lines = [
    "## The simulator against the lab (`halfopen simulate`)",
    "",
    `Run: ${when}, \`npm run bench -- --only simulate${quick ? " --quick" : ""}\`. Each scan ran for real in a test network namespace (198.18.0.1; a live target is port ${REFUSED_PORT}, answered by a RST; a dead one is a port whose SYNs nftables drops), ${rounds} round${rounds > 1 ? "s" : ""} each in a fresh process (bench/sim-client.mjs, built dist/), and the simulator predicted the same scan: the same targets alive (its seeded draw), the same timeouts, the round-trip time measured in the lab. Goal: every prediction within 10% of the measured median. **${within} of ${results.length}** are.`,
    "",
    "| scan | targets (alive) | measured median (each round) | predicted | error | found (predicted) |",
    "|---|---:|---|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.targets} (${r.aliveTargets}) | ${(median(r.measuredMs) / 1000).toFixed(3)} s (${r.measuredMs.map((m) => (m / 1000).toFixed(2)).join(", ")}) | ${(r.predictedMs / 1000).toFixed(3)} s | ${r.errorPct >= 0 ? "+" : ""}${r.errorPct.toFixed(2)}% | ${r.found} (${r.predictedFound}) |`,
    ),
    "",
    "The prediction of each row, to run yourself:",
    "",
    ...results.map((r) => `- ${r.name}: \`${r.command}\``),
    "",
    `Attempts that ended neither answered nor timed out: ${results.reduce((s, r) => s + r.other, 0)}. Round-trip times measured in the lab: ${results.map((r) => `${r.rttMs.toFixed(3)} ms`).join(", ")}.`,
    "",
  ];
  return { markdown: lines.join("\n"), json: { when, rounds, results } };
}
