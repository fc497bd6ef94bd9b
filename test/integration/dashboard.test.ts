/**
 * The dashboard in a real browser: Debian's Chromium (package chromium,
 * installed by .ci/run) driven by playwright-core 1.64.1, the release whose
 * bundled Chromium is 156, the major Debian ships; playwright never
 * downloads a browser here (executablePath). Live tests need root (tracefs,
 * a test-made network namespace that drops SYNs); the replay test needs only
 * the browser. Screenshots go to test-results/dashboard/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { createLab, destroyLab, droppedPorts, LAB_ADDRESS, labSkipReason, type Lab } from "./lab.js";
import { quietPort } from "../support/net.js";
import { cli, REPO, runConnector, WatchProcess } from "./watch-process.js";

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

/** The URL with the token: on standard error only; the `start` record has it without the token. */
async function uiUrl(w: WatchProcess): Promise<string> {
  const start = await w.waitFor((l) => l.type === "start");
  assert.match(String(start.ui), /^http:\/\/127\.0\.0\.1:\d+\/$/, "no token in the JSON start record");
  let m: RegExpExecArray | null = null;
  for (let i = 0; i < 100 && !(m = /dashboard at (http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{20,})/.exec(w.stderr)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(m, `the URL on stderr: ${w.stderr}`);
  const token = new URL(m[1] as string).hash.slice("#token=".length);
  assert.ok(!JSON.stringify(w.lines).includes(token), `the token ${token} is in no JSON line`);
  return m[1] as string;
}

after(async () => {
  await browser?.close();
});

describe("dashboard in Chromium: a replayed capture", { skip: browserSkip }, () => {
  it("renders the recorded incident and process, and refuses the page without the token; --no-ui-scans: no scans panel", async () => {
    const w = new WatchProcess(["--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--ui", "--interval", "0", "--no-ui-scans"]);
    const { page, errors } = await newPage();
    try {
      const url = await uiUrl(w);
      // Without the token the page loads (it holds no data) and says what is missing; the API refuses.
      await page.goto(url.replace(/#token=.*/, ""));
      await until("the page to say it has no token", async () => /no token/.test((await page.textContent("#status")) ?? ""));
      assert.equal((await page.request.get(new URL("/api/snapshot", url).href)).status(), 401);
      await page.goto("about:blank");
      await page.goto(url);
      assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
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
      assert.equal(await page.isHidden("#scans"), true, "--no-ui-scans: no scans panel");
      const token = new URL(url).hash.slice("#token=".length);
      const refused = await page.request.post(new URL("/api/scans", page.url()).href, { data: { targets: "127.0.0.1" }, headers: { origin: new URL(page.url()).origin, authorization: `Bearer ${token}` } });
      assert.equal(refused.status(), 409);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "HALFOPEN_UNSUPPORTED");
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, "replay.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await w.stop();
    }
  });
});

describe("dashboard in Chromium: the token stays with the dashboard's origin", { skip: browserSkip }, () => {
  it("a web server another local user runs on another loopback port receives no cookie, header or URL with the token after the browser opened the dashboard", async () => {
    const w = new WatchProcess(["--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--ui", "--interval", "0"]);
    const { page } = await newPage();
    // The other user's server: it records every byte of every request it gets.
    const seen: string[] = [];
    const { createServer: createHttp } = await import("node:http");
    const spy = createHttp((req, res) => {
      seen.push(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}`);
      res.writeHead(200, { "content-type": "text/html" }).end("<p>hello</p><img src=/pixel>");
    });
    await new Promise<void>((r) => spy.listen(0, "127.0.0.1", () => r()));
    try {
      const url = await uiUrl(w);
      const token = new URL(url).hash.slice("#token=".length);
      await page.goto(url);
      await page.locator("#incident-list li").first().waitFor({ timeout: 15_000 });
      // The operator's browser then visits the other server (a link, a redirect, an <img>).
      const other = `http://127.0.0.1:${(spy.address() as AddressInfo).port}`;
      await page.goto(`${other}/visit`);
      await page.goto(`http://localhost:${(spy.address() as AddressInfo).port}/again`);
      await until("the spy to see the visits", async () => seen.length >= 3);
      assert.ok(seen.every((r) => !r.includes(token)), `no request to another port carries the token:\n${seen.join("\n")}`);
      assert.ok(seen.every((r) => !/"cookie"/.test(r)), "no cookie at all reaches it");
      // And a page on that other origin cannot read the dashboard's storage or call its API.
      const leaked = await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem("halfopen-token")).catch(() => null);
      assert.equal(leaked, null);
    } finally {
      spy.close();
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

describe("dashboard in Chromium: scans from the page", { skip: browserSkip }, () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });
  /** A loopback listener that writes `banner` to whoever connects (and then closes). */
  const listen = (banner = "", port = 0) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer((c) => {
        c.on("error", () => undefined); // the scanner closes with RST
        c.end(banner);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        servers.push(s);
        resolve(s);
      });
    });
  const portOf = (s: Server) => (s.address() as AddressInfo).port;

  it("starts a scan, shows progress, results as a table and a host × port grid, the changes of the next round, and stops a long one; a hostile banner stays text", async () => {
    // Scans run in the watch process, on loopback only (127.0.0.0/8): a replay needs no root.
    // With --db, a replay stores (its incidents and the page's scans) in a database of the test's own.
    const db = join(mkdtempSync(join(tmpdir(), "halfopen-uiscans-")), "incidents.db");
    const ssh = await listen("SSH-2.0-test \x1b[31mred\x1b[0m\r\n");
    // An earlier scan, by `halfopen scan`: the page lists it under "stored earlier".
    const earlier = cli("scan", "127.0.0.1", "-Pn", "-p", String(portOf(ssh)), "--db", db, "--json");
    assert.equal(earlier.status, 0, earlier.stderr);
    const earlierId = (JSON.parse(earlier.stdout) as { scanId: number }).scanId;
    const w = new WatchProcess(["--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--ui", "--interval", "0", "--db", db]);
    const { page, errors } = await newPage();
    const payload = `<img src=x onerror="window.__pwned=1">`;
    const web = await listen(payload);
    const laterPort = await quietPort();
    const ports = [portOf(web), portOf(ssh), laterPort];
    try {
      await page.goto(await uiUrl(w));
      await page.locator("#scans:not([hidden])").waitFor({ timeout: 15_000 });
      assert.equal(await page.inputValue("#scan-budget"), "10", "the default budget: the watch's limit, at most 10");
      await page.fill("#scan-targets", "127.0.0.1");
      await page.fill("#scan-ports", ports.join(","));
      await page.uncheck("#scan-discovery");
      await page.check("#scan-banner");
      await page.click("#scan-start");
      const row = page.locator('#scan-grid tr[data-address="127.0.0.1"]');
      await row.waitFor({ timeout: 15_000 });
      await until("the first scan done", async () => /^scan 1: 1\/1 addresses, 1 up, 2 open, .* · done$/.test((await page.textContent("#scan-progress-text")) ?? ""));
      const cell = (port: number) => row.locator(`td[data-port="${port}"]`);
      assert.deepEqual(await Promise.all(ports.map((p) => cell(p).getAttribute("class"))), ["open", "open", "closed"]);
      assert.deepEqual(await Promise.all(ports.map((p) => cell(p).textContent())), ["●", "●", "·"]);
      const open = (await page.textContent('#scan-table tr[data-address="127.0.0.1"] td.open-ports')) ?? "";
      assert.ok(open.includes(`${portOf(web)} “${payload}”`), open);
      assert.ok(open.includes(`${portOf(ssh)} “SSH-2.0-test \\x1b[31mred\\x1b[0m”`), `control characters shown as \\xNN: ${open}`);
      assert.equal(await page.locator("#scans img").count(), 0, "the banner made no element");
      assert.equal(await page.evaluate(() => typeof (globalThis as Record<string, unknown>).__pwned), "undefined", "no script ran");
      assert.equal(await page.isHidden("#scan-changes-box"), true, "nothing to compare the first scan with");

      // The port opens; the second round says what changed.
      await listen("", laterPort);
      await page.click("#scan-start");
      await until("the second scan done", async () => /^scan 2: .* · done$/.test((await page.textContent("#scan-progress-text")) ?? ""));
      await page.locator("#scan-changes li.opened").waitFor({ timeout: 15_000 });
      assert.deepEqual(await page.locator("#scan-changes li").allTextContents(), [`127.0.0.1 ${laterPort}/tcp opened (was closed)`]);
      assert.equal(await page.textContent("#scan-changes-since"), "since scan #1");
      assert.equal(await cell(laterPort).textContent(), "●");
      await until("both rounds listed", async () => (await page.locator("#scan-list li").count()) === 2);
      assert.match((await page.textContent("#scan-list")) ?? "", /#2 .* 127\.0\.0\.1 · done, 1 up, 3 open, 1 change/);
      assert.deepEqual(await page.locator("#scan-stored li").allTextContents().then((t) => t.map((x) => x.replace(/ \d.*? 127/, " 127"))), [`stored #${earlierId} 127.0.0.1 · done, 1 up, 1 open`], "this run's rounds are not listed twice");
      mkdirSync(SHOTS, { recursive: true });
      await page.locator("#scans").screenshot({ path: join(SHOTS, "scans.png") });

      // A long one (65,536 loopback addresses), stopped from the page.
      await page.fill("#scan-targets", "127.4.0.0/16");
      await page.fill("#scan-ports", String(laterPort + 1));
      await page.fill("#scan-budget", "2"); // slow enough to be stopped in the middle
      await page.uncheck("#scan-banner");
      await page.click("#scan-start");
      await until("the long scan under way", async () => /^scan 3: [1-9]\d*\/65536 addresses/.test((await page.textContent("#scan-progress-text")) ?? ""));
      assert.equal(await page.isDisabled("#scan-start"), true, "one scan at a time");
      await page.click("#scan-stop");
      await until("the long scan interrupted", async () => / · interrupted$/.test((await page.textContent("#scan-progress-text")) ?? ""));
      assert.match((await page.textContent("#scan-progress-text")) ?? "", /^scan 3: [1-9]\d*\/65536 addresses/);
      assert.equal(await page.isEnabled("#scan-start"), true);
      // An earlier scan can be shown again, from this run or from the database.
      await page.locator("#scan-list li", { hasText: "#1 " }).click();
      await until("scan 1 shown", async () => /^scan #1/.test((await page.textContent("#scan-title")) ?? ""));
      assert.equal(await cell(laterPort).textContent(), "·");
      await page.locator("#scan-stored li").first().click();
      await until("the stored scan shown", async () => (await page.textContent("#scan-title")) === `stored scan #${earlierId}: 127.0.0.1`);
      assert.equal(await cell(portOf(ssh)).textContent(), "●");
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await w.stop();
    }
  });
});
