/**
 * `npm run bench`: every benchmark, one command. Builds dist/, runs the parts,
 * and rewrites each part's section of bench/RESULTS.md (anchors are measured
 * in the same run as the numbers they anchor, within each section).
 *
 *   npm run bench                      all parts (root: ~7 minutes)
 *   npm run bench -- --quick           shorter runs
 *   npm run bench -- --only limiter    one part (monitor | limiter | ls | wake | verdicts | simulate | scan | ui | ui-memory | raw | enforce | cost)
 *
 * The verdicts part needs root and nmap; the monitor and cost parts need root and bpftrace; the limiter's loopback part runs
 * anywhere, its netns part needs root. A part that cannot run says why.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { labSkipReason } from "../test/integration/lab.js";
import { monitorBenchSkipReason, runMonitorBench } from "./monitor.js";
import { runLimiterBench } from "./limiter.js";
import { lsBenchSkipReason, runLsBench } from "./ls.js";
import { runVerdictsBench, verdictsBenchSkipReason } from "./verdicts.js";
import { runWakeBench } from "./wake.js";
import { runSimulateBench } from "./simulate.js";
import { runScanBench, scanBenchSkipReason } from "./scan.js";
import { runUiBench, uiBenchSkipReason } from "./ui.js";
import { runUiMemoryBench } from "./ui-memory.js";
import { rawBenchSkipReason, runRawBench } from "./raw.js";
import { enforceBenchSkipReason, runEnforceBench } from "./enforce.js";
import { costBenchSkipReason, runCostBench } from "./cost.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const RESULTS = `${REPO}bench/RESULTS.md`;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const PARTS = ["monitor", "limiter", "ls", "wake", "verdicts", "simulate", "scan", "ui", "ui-memory", "raw", "enforce", "cost"] as const;
type Part = (typeof PARTS)[number];

/** Each part: why it cannot run here (or undefined), and the run that returns its section (and its JSON, written to bench/out/). */
const RUNNERS: Record<Part, { skip?: () => string | undefined; run: (quick: boolean) => Promise<{ markdown: string; json?: unknown }> }> = {
  // The monitor part writes its own bench/out/monitor.json.
  monitor: { skip: monitorBenchSkipReason, run: async (quick) => ({ markdown: await runMonitorBench(quick) }) },
  limiter: { run: runLimiterBench },
  ls: { skip: lsBenchSkipReason, run: runLsBench },
  wake: { skip: labSkipReason, run: runWakeBench },
  verdicts: { skip: verdictsBenchSkipReason, run: runVerdictsBench },
  simulate: { skip: labSkipReason, run: runSimulateBench },
  scan: { skip: scanBenchSkipReason, run: runScanBench },
  ui: { skip: uiBenchSkipReason, run: runUiBench },
  "ui-memory": { skip: labSkipReason, run: runUiMemoryBench },
  raw: { skip: rawBenchSkipReason, run: runRawBench },
  enforce: { skip: enforceBenchSkipReason, run: runEnforceBench },
  cost: { skip: costBenchSkipReason, run: runCostBench },
};

/** Replace (or append) the section between <!-- part:NAME --> markers. */
function updateSection(doc: string, part: Part, body: string): string {
  const begin = `<!-- part:${part} -->`;
  const end = `<!-- /part:${part} -->`;
  const block = `${begin}\n${body.trimEnd()}\n${end}`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
  if (only !== undefined && !PARTS.includes(only as Part)) {
    log(`unknown part "${only}": expected one of ${PARTS.join(", ")}`);
    process.exit(2);
  }
  const parts = only ? [only as Part] : [...PARTS];
  log("building dist/");
  execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO, stdio: "inherit" });
  mkdirSync(`${REPO}bench/out`, { recursive: true });
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  let doc = existsSync(RESULTS) ? readFileSync(RESULTS, "utf8") : "";
  if (!doc.startsWith("# Benchmark results")) doc = "";
  const header = `# Benchmark results\n\n\`npm run bench\` writes this file; each section says when it ran. Machine of the last run: ${machine}.\nShared machines are noisy: compare a number with the anchor beside it, measured in the same run.\n`;
  const bodyStart = doc.indexOf("<!-- part:");
  doc = header + "\n" + (bodyStart >= 0 ? doc.slice(bodyStart) : "");
  let failed = false;
  for (const part of parts) {
    log(`== ${part}`);
    const { skip, run } = RUNNERS[part];
    const why = skip?.();
    if (why) {
      log(`${part}: cannot run: ${why}`);
      failed = true;
      continue;
    }
    const { markdown, json } = await run(quick);
    if (json !== undefined) writeFileSync(`${REPO}bench/out/${part}.json`, JSON.stringify(json, null, 2));
    doc = updateSection(doc, part, markdown);
    writeFileSync(RESULTS, doc);
  }
  process.stdout.write(doc);
  if (failed) process.exit(3);
}

await main();
