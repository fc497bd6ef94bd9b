/**
 * The dashboard's cost (part `ui` of `npm run bench`): `watch`'s CPU at
 * 10,000 attempts/s without `--ui` (the anchor) and with `--ui` and the page
 * open in Chromium, alternating, in one run; then the page's update lag: a
 * new process makes one connect while the load runs, and the time from its
 * connect to its row appearing in the page is measured (playwright waits on
 * the page's DOM). Needs root (tracefs, a test-made namespace) and Debian's
 * chromium.
 *
 * Goals (issue 16): CPU within 5 points of a core of watch without --ui;
 * lag p99 < 500 ms.
 */
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { createLab, destroyLab, labSkipReason, labSysctl, spawnInLab, DROPPED_RANGE, LAB_ADDRESS } from "../test/integration/lab.js";
import { generators, procStat, runGenerator, startServers, startWatch, stopChild } from "./monitor.js";

const CHROMIUM = "/usr/bin/chromium";
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export function uiBenchSkipReason(): string | undefined {
  return labSkipReason() ?? (existsSync(CHROMIUM) ? undefined : `needs ${CHROMIUM} (Debian package chromium)`);
}

export async function runUiBench(quick: boolean): Promise<{ markdown: string; json: unknown }> {
  const { chromium } = await import("playwright-core");
  const lab = createLab("hobenchui");
  labSysctl(lab, "net.ipv4.ip_local_port_range", "1024 65535");
  labSysctl(lab, "net.ipv4.tcp_tw_reuse", "1");
  const servers = startServers(lab);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const rate = 10_000;
  const durationMs = quick ? 8000 : 15_000;
  const rounds = quick ? 1 : 2;
  const cpu: { mode: "plain" | "ui"; percent: number; attempts: number }[] = [];
  const lags: number[] = [];
  await sleep(500);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of ["plain", "ui"] as const) {
        log(`ui: ${mode}, ${rate}/s for ${durationMs / 1000}s`);
        const watch = startWatch(["--interval", "0", "--buffer-kb", "16384", "--no-store", ...(mode === "ui" ? ["--ui"] : [])]);
        await watch.started;
        const page = mode === "ui" ? await browser.newPage({ viewport: { width: 1280, height: 900 } }) : undefined;
        if (page) {
          await page.goto(String(watch.records.find((r) => r.type === "start")?.ui));
          await page.locator("#status.live").waitFor({ timeout: 10_000 });
        }
        const pid = watch.child.pid as number;
        const load = Promise.all(generators(rate, durationMs, `${mode}${round}`).map((g) => runGenerator(lab, g)));
        await sleep(2000);
        const a = procStat(pid);
        const t0 = nowMs();
        await sleep(durationMs - 4000);
        const b = procStat(pid);
        const t1 = nowMs();
        await load;
        if (page && round === 0) {
          // The lag: new processes connect while the load runs again.
          const again = Promise.all(generators(rate, 12_000, `lag${round}`).map((g) => runGenerator(lab, g)));
          await sleep(1000);
          for (let i = 0; i < (quick ? 10 : 20); i++) {
            const child = spawnInLab(lab, process.execPath, ["-e", `process.title="ho-lag-${i}";const s=require("net").connect({host:"${LAB_ADDRESS}",port:${DROPPED_RANGE[0] + 500 + i}});s.on("error",()=>{});console.log(process.pid);setTimeout(()=>process.exit(0),3000)`]);
            const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
            const issued = nowMs();
            await page.locator(`#table tbody tr[data-pid="${line.trim()}"]`).waitFor({ timeout: 10_000 });
            lags.push(nowMs() - issued);
            await sleep(300);
          }
          await again;
        }
        await page?.close();
        await stopChild(watch.child);
        const stop = watch.records.find((r) => r.type === "stop") as { attempts: number };
        cpu.push({ mode, percent: (((b.cpuTicks - a.cpuTicks) / 100) * 1000 * 100) / (t1 - t0), attempts: stop.attempts });
        log(`ui: ${mode}: ${cpu[cpu.length - 1]?.percent.toFixed(1)}% of a core`);
      }
    }
  } finally {
    await browser.close();
    servers.kill("SIGKILL");
    destroyLab(lab);
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  };
  const plain = median(cpu.filter((c) => c.mode === "plain").map((c) => c.percent));
  const ui = median(cpu.filter((c) => c.mode === "ui").map((c) => c.percent));
  lags.sort((x, y) => x - y);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? Number.NaN;
  const when = new Date().toISOString();
  const markdown = [
    "## The dashboard's cost (`watch --ui`)",
    "",
    `Run: ${when}, \`npm run bench -- --only ui${quick ? " --quick" : ""}\`. \`watch\` at ${rate.toLocaleString("en")} attempts/s in a test-made namespace (a third dropped, a third refused, a third accepted), ${durationMs / 1000} s each, CPU over the middle ${(durationMs - 4000) / 1000} s from /proc; without \`--ui\` (the anchor) and with \`--ui\` and the page open in Chromium, alternating, ${rounds} round${rounds > 1 ? "s" : ""} (medians).`,
    "",
    "| watch | CPU, % of one core (each round) |",
    "|---|---|",
    `| without --ui (anchor) | **${plain.toFixed(1)}** (${cpu.filter((c) => c.mode === "plain").map((c) => c.percent.toFixed(1)).join(", ")}) |`,
    `| with --ui, page open | **${ui.toFixed(1)}** (${cpu.filter((c) => c.mode === "ui").map((c) => c.percent.toFixed(1)).join(", ")}) |`,
    "",
    `Difference: **${(ui - plain).toFixed(1)} points** of a core. Goal: 5 or fewer.`,
    "",
    `Update lag, a new process's connect to its row in the page, under the same load (${lags.length} processes): p50 ${q(0.5).toFixed(0)} ms, p99 **${q(0.99).toFixed(0)} ms**, max ${(lags[lags.length - 1] ?? Number.NaN).toFixed(0)} ms. Goal: p99 < 500 ms. The monitor is sampled four times a second, so up to 250 ms of it is the sampling period.`,
    "",
  ].join("\n");
  return { markdown, json: { when, rate, durationMs, cpu, plain, ui, lags } };
}
