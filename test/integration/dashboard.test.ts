/**
 * The dashboard in a real browser: Debian's Chromium (package chromium,
 * installed by .ci/run) driven by playwright-core 1.64.1, the release whose
 * bundled Chromium is 156, the major Debian ships; playwright never
 * downloads a browser here (executablePath). Live tests need root (tracefs,
 * a test-made network namespace that drops SYNs); the replay test needs only
 * the browser. Screenshots go to test-results/dashboard/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { createLab, destroyLab, droppedPorts, LAB_ADDRESS, labSkipReason, type Lab } from "./lab.js";
import { REPO, runConnector, WatchProcess } from "./watch-process.js";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(REPO, "test-results", "dashboard");

function browserSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux";
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `needs ${CHROMIUM} (Debian package chromium)`;
  if (process.env.CI) throw new Error(`dashboard.test.ts cannot run under CI: ${reason}; .ci/run must provide it`);
  return reason;
}

const browserSkip = browserSkipReason();
const liveSkip = browserSkip ?? labSkipReason();
if (browserSkip) console.log(`# SKIP integration/dashboard: ${browserSkip}`);
else if (liveSkip) console.log(`# SKIP integration/dashboard (live): ${liveSkip}`);

let browser: Browser | undefined;
async function newPage(): Promise<{ page: Page; errors: string[] }> {
  if (!browser) {
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => {
    errors.push(`unexpected dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { page, errors };
}

/** Polls `check` every 100 ms until it holds, for at most `ms` (page reads only: the page's CSP forbids eval). */
async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function uiUrl(w: WatchProcess): Promise<string> {
  const start = await w.waitFor((l) => l.type === "start");
  assert.match(String(start.ui), /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
  return String(start.ui);
}

after(async () => {
  await browser?.close();
});

describe("dashboard in Chromium: a replayed capture", { skip: browserSkip }, () => {
  it("renders the recorded incident and process, and refuses the page without the token", async () => {
    const w = new WatchProcess(["--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--ui", "--interval", "0"]);
    const { page, errors } = await newPage();
    try {
      const url = await uiUrl(w);
      const bare = await page.goto(url.replace(/\?token=.*/, ""));
      assert.equal(bare?.status(), 401);
      assert.match(await page.textContent("body") ?? "", /HALFOPEN_UI_NO_TOKEN/);
      await page.goto(url);
      assert.equal(new URL(page.url()).search, "", "the token left the address bar");
      const item = page.locator("#incident-list li").first();
      await item.waitFor({ timeout: 15_000 });
      // The same incident `watch --replay` reports (test/fixtures/records/scan.incidents.jsonl): ho-scan, peak 40 of 10.
      assert.match((await item.textContent()) ?? "", /^#1 .* peak 40\/10 {2}40 attempts {2}ho-scan\[20488\] {2}closed$/);
      const row = page.locator("#table tbody tr", { hasText: "ho-scan" });
      await row.waitFor();
      assert.deepEqual(await row.locator("td").allTextContents().then((t) => t.slice(0, 8)), ["20488", "ho-scan", "root", "ho-scan", "0", "40", "40 (100%)", "scanner"]);
      assert.ok(((await row.getAttribute("class")) ?? "").includes("exited"), "the scan exited in the capture: greyed");
      await item.click();
      await page.locator("#incident-detail").waitFor();
      assert.match((await page.textContent("#incident-detail")) ?? "", /processes:\n {2}ho-scan\[20488\] 40 attempts, peak 40 half-open/);
      assert.equal(await page.locator("#chart canvas").count(), 1, "uPlot drew the chart");
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, "replay.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await w.stop();
    }
  });
});

describe("dashboard in Chromium: live", { skip: liveSkip }, () => {
  let lab: Lab | undefined;
  before(() => {
    lab = createLab("hodash");
  });
  after(() => destroyLab(lab as Lab));

  it("updates the chart and table as a process half-opens; names it in an incident; shows an HTML payload as text; ends it after a confirmation", async () => {
    // Only the lab's attempts (the browser's own connects would crowd the table and the screenshot).
    const w = new WatchProcess(["--ui", "--interval", "0", "--limit", "10", "--quiet", "1", "--netns", (lab as Lab).name]);
    const { page, errors } = await newPage();
    // Chosen by whoever runs the process: a name and command line that are HTML.
    const payload = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
    let connector: Awaited<ReturnType<typeof runConnector>> | undefined;
    try {
      const url = await uiUrl(w);
      await page.goto(url);
      await page.locator("#status.live").waitFor({ timeout: 15_000 });
      connector = await runConnector(lab as Lab, { title: payload, host: LAB_ADDRESS, ports: droppedPorts(25, 700), holdMs: 120_000 });
      const pid = String(connector.pid);
      const row = page.locator(`#table tbody tr[data-pid="${pid}"]`);
      await row.waitFor({ timeout: 15_000 });
      await until("25 half-open in the process's row", async () => (await row.locator("td.halfopen").textContent()) === "25");
      await until("the total at 25 or more", async () => Number(await page.textContent("#now")) >= 25);
      const incident = page.locator("#incident-list li", { hasText: `[${pid}]` });
      await incident.waitFor({ timeout: 15_000 });
      assert.match((await incident.textContent()) ?? "", new RegExp(`peak 1\\d/10 {2}1\\d attempts {2}<img src=x oner\\[${pid}\\] {2}open$`), "opened when the 11th attempt went half-open");
      // The payload is text: the name cell holds its first 15 bytes (the kernel's comm), the command line all of it.
      assert.equal(await row.locator("td.name").textContent(), payload.slice(0, 15));
      assert.match((await row.locator("td.cmd").textContent()) ?? "", /^<img src=x onerror="window\.__pwned=1"><script>window\.__pwned=2<\/script>/);
      assert.equal(await page.locator("#table img, #table script, #incident-list img").count(), 0, "no element made from the payload");
      assert.equal(await page.evaluate(() => typeof (globalThis as Record<string, unknown>).__pwned), "undefined", "no script ran");
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, "live.png"), fullPage: true });
      // Ending it: the confirmation names the process and its start time; then the row greys.
      await row.locator("button.kill").click();
      const text = (await page.textContent("#confirm-text")) ?? "";
      assert.match(text, new RegExp(`^End <img src=x oner \\(pid ${pid}, started at \\d+ clock ticks after boot\\) with SIGTERM\\?`));
      assert.equal(await page.locator("#confirm[open]").count(), 1, "the confirmation is open");
      await page.click("#confirm-yes");
      await connector.exited;
      await page.locator(`#table tbody tr.exited[data-pid="${pid}"]`).waitFor({ timeout: 15_000 });
      await page.locator("#warnings li", { hasText: `sent SIGTERM to` }).waitFor({ timeout: 5_000 });
      await until("the incident closed, with its peak", async () => /peak 25\/10 {2}25 attempts .* closed$/.test((await incident.textContent()) ?? ""));
      await page.screenshot({ path: join(SHOTS, "after-kill.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      if (connector) {
        try {
          process.kill(connector.pid, "SIGKILL");
        } catch {
          // already ended by the test
        }
      }
      await w.stop();
    }
  });
});
