/**
 * Takes docs/dashboard.png from a real run in the scan lab (root; Debian's
 * chromium): `halfopen watch --ui` on the lab's scanner namespace while real
 * nmap -sT scans the lab's hosts (a firewalled one among them, so attempts
 * stay half-open) and a Python client fetches a page from one of them; the
 * page is shot once the incident has closed and nmap is judged a scanner.
 * Everything stays inside the lab's namespaces (198.18.0.0/24).
 *
 *   sudo node --import tsx scripts/dashboard-screenshot.ts [docs/dashboard.png]
 */
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createScanLab, destroyScanLab, FIREWALLED } from "../test/integration/scan-lab.js";
import { WatchProcess } from "../test/integration/watch-process.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const out = process.argv[2] ?? `${REPO}docs/dashboard.png`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lab = await createScanLab("hoshot");
const w = new WatchProcess(["--ui", "--interval", "0", "--limit", "10", "--quiet", "1", "--no-store", "--netns", lab.scanner.name]);
const { chromium } = await import("playwright-core");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  await w.waitFor((l) => l.type === "start");
  let url: string | undefined;
  for (let i = 0; i < 100 && !url; i++) {
    url = /dashboard at (http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]+)/.exec(w.stderr)?.[1];
    if (!url) await sleep(50);
  }
  if (!url) throw new Error(`no dashboard URL: ${w.stderr}`);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  await page.locator("#status.live").waitFor({ timeout: 15_000 });
  await sleep(2000);
  // A client fetching a page, then nmap -sT over literal addresses (one firewalled: its ports stay half-open).
  execFileSync("ip", ["netns", "exec", lab.scanner.name, "python3", "-c", "import socket\nfor a in ('198.18.0.10','198.18.0.11'):\n  s=socket.create_connection((a,80),2); s.close()"]);
  const nmap = spawn("ip", ["netns", "exec", lab.scanner.name, "nmap", "-sT", "-Pn", "-n", "-p", "1-150", "--max-retries", "1", "198.18.0.12-19", FIREWALLED[0]], { stdio: "ignore" });
  await new Promise((r) => nmap.on("exit", r));
  await page.locator("#incident-list li", { hasText: "closed" }).waitFor({ timeout: 30_000 });
  await page.locator("#table td.verdict", { hasText: "scanner" }).first().waitFor({ timeout: 15_000 });
  await sleep(1500);
  await page.screenshot({ path: out });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await w.stop();
  destroyScanLab(lab);
}
