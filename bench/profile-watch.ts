/**
 * Profiles `halfopen watch` under load (issue 32): node --cpu-prof while a
 * generator in a test namespace connects to dropped ports at RATE a second for
 * SECONDS; prints the top self-time functions. Root.
 *
 *   node --import tsx bench/profile-watch.ts [RATE=20000] [SECONDS=10] [OUTDIR=bench/out/profile]
 *
 * HALFOPEN_ANCHOR_CLI=/path/to/dist/cli/main.js profiles another build the same way (before/after).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLab, destroyLab, labSysctl, LAB_ADDRESS, DROPPED_RANGE } from "../test/integration/lab.js";
import { runConnectGenerator, stopChild } from "./monitor.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const [rate = 20_000, seconds = 10] = process.argv.slice(2, 4).map(Number);
const out = process.argv[4] ?? `${REPO}bench/out/profile`;
mkdirSync(out, { recursive: true });
const lab = createLab("hoprof");
labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
try {
  const child = spawn(process.execPath, [...(process.env.PROFILE_NODE_ARGS ?? "").split(" ").filter(Boolean), "--cpu-prof", "--cpu-prof-dir", out, process.env.HALFOPEN_ANCHOR_CLI ?? `${REPO}dist/cli/main.js`, "watch", "--json", "--no-store", "--interval", "0", "--buffer-kb", "16384"], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on("line", (l) => l.includes('"type":"start"') && resolve()));
  const dropped = Array.from({ length: 1000 }, (_, i) => DROPPED_RANGE[0] + i);
  const g = await runConnectGenerator(lab, { title: "prof-gen", host: LAB_ADDRESS, ports: dropped, rate, durationMs: seconds * 1000, holdMs: 300 });
  await stopChild(child);
  const file = readdirSync(out).filter((f) => f.endsWith(".cpuprofile")).sort().pop() as string;
  const prof = JSON.parse(readFileSync(`${out}/${file}`, "utf8")) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] };
  const self = new Map<number, number>();
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const byFn = new Map<string, number>();
  for (const n of prof.nodes) {
    const key = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(dist|node:)/, "$1")}:${n.callFrame.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + (self.get(n.id) ?? 0));
  }
  const total = [...byFn.values()].reduce((a, b) => a + b, 0);
  const busy = [...byFn].filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(program)")).reduce((a, [, v]) => a + v, 0);
  console.log(`${g.issued - g.localErrors} attempts made of ${g.issued} at ${rate}/s; profile ${out}/${file}; busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
} finally {
  destroyLab(lab);
}
