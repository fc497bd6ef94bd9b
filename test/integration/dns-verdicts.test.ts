/**
 * DNS-aware verdicts with real programs (root, a lab namespace of its own):
 * dnsmasq answers names for 30 dead and 10 live lab hosts; Debian's
 * Chromium, driven by playwright-core inside the namespace, loads one page
 * whose images sit on all 40. `watch` sees the answers, names the incident's
 * destinations and does not call the browser a scanner; `nmap -sT -Pn` over
 * literal addresses in the same run is a scanner within 6 first contacts.
 * The anchor: the same page under `--no-dns` (verdicts blind to names) is
 * called a scanner, as it was before. Under CI a missing tool fails.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { labSkipReason } from "./lab.js";
import { CLI, REPO, WatchProcess } from "./watch-process.js";

const CHROMIUM = "/usr/bin/chromium";
const DNS = "198.18.0.53";
const live = (i: number) => `198.18.0.${11 + i}`;
const dead = (i: number) => `198.18.0.${129 + i}`;
/** Addresses nobody looks up (dropped like the dead hosts): nmap's targets. */
const literal = (i: number) => `198.18.0.${170 + i}`;

function skipReason(): string | undefined {
  let why = labSkipReason();
  if (!why) {
    const missing = ["dnsmasq", "nmap", CHROMIUM].filter((c) => {
      try {
        execFileSync("sh", ["-c", 'command -v "$0"', c], { stdio: "ignore" });
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) why = `needs ${missing.join(", ")} (Debian packages dnsmasq-base, nmap, chromium; installed by .ci/run)`;
    if (why && process.env.CI) throw new Error(`integration/dns-verdicts cannot run under CI: ${why}`);
  }
  return why;
}

const skip = skipReason();
if (skip) console.log(`# SKIP integration/dns-verdicts: ${skip}`);

/** The page: 30 images on dead named hosts, 10 on live ones. */
function page(): string {
  const imgs = [...Array.from({ length: 30 }, (_, i) => `dead${i}.lab.test`), ...Array.from({ length: 10 }, (_, i) => `live${i}.lab.test`)].map((h) => `<img src="http://${h}/i.png">`);
  return `<!doctype html><title>a badly configured site</title>${imgs.join("\n")}`;
}

const SERVER = `const http=require("http");const page=${JSON.stringify(page())};
http.createServer((q,s)=>{if(q.url==="/"){s.setHeader("content-type","text/html");s.end(page)}else{s.setHeader("content-type","image/gif");s.end(Buffer.from("R0lGODlhAQABAAAAACw=","base64"))}}).listen(80,"0.0.0.0",()=>console.log("ready"));`;

describe("verdicts that know which addresses were looked up (dnsmasq, Chromium, nmap in a lab)", { skip }, () => {
  const ns = `hodns-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "halfopen-dns-"));
  const children: ChildProcess[] = [];
  const run = (...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args]);

  before(async () => {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // not there
    }
    execFileSync("ip", ["netns", "add", ns]);
    run("ip", "link", "set", "lo", "up");
    for (const a of [DNS, ...Array.from({ length: 10 }, (_, i) => live(i)), ...Array.from({ length: 30 }, (_, i) => dead(i)), ...Array.from({ length: 12 }, (_, i) => literal(i))]) run("ip", "addr", "add", `${a}/32`, "dev", "lo");
    // The dead hosts drop SYNs: their connects stay unanswered.
    execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
      input: "table inet halfopen_dnslab {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr 198.18.0.128/26 tcp flags & (syn | ack) == syn drop\n  }\n}\n",
    });
    const hosts = [...Array.from({ length: 10 }, (_, i) => `${live(i)} live${i}.lab.test`), ...Array.from({ length: 30 }, (_, i) => `${dead(i)} dead${i}.lab.test`)].join("\n");
    writeFileSync(join(dir, "hosts"), `${hosts}\n`);
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${DNS}\n`);
    const dnsmasq = spawn("ip", ["netns", "exec", ns, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", `--addn-hosts=${join(dir, "hosts")}`, `--listen-address=${DNS}`, "--bind-interfaces", "--local-ttl=60", "-u", "root", "--pid-file"], { stdio: "ignore" });
    const server = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(dnsmasq, server);
    await once(server.stdout!, "data");
    // Chromium in the namespace: playwright starts this wrapper, which enters it and becomes the browser.
    writeFileSync(join(dir, "chromium-in-lab"), `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
    chmodSync(join(dir, "chromium-in-lab"), 0o755);
  });

  after(() => {
    for (const c of children) c.kill("SIGKILL");
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // gone
    }
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const running = new Set<WatchProcess>();
  afterEach(async () => {
    for (const w of running) await w.stop("SIGKILL");
    running.clear();
  });

  /** Load the page in a fresh Chromium in the lab under a watch with `args`; its verdicts, incidents and totals. */
  async function browse(args: string[], alsoNmap: boolean) {
    const w = new WatchProcess(["--interval", "0", "--limit", "10", "--quiet", "1", "--netns", ns, "--no-store", "--no-raw-senders", ...args]);
    running.add(w);
    await w.waitFor((l) => l.type === "start");
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: join(dir, "chromium-in-lab"), args: ["--no-sandbox"] });
    let nmapPid: number | undefined;
    try {
      const p = await browser.newPage();
      await p.goto("http://live0.lab.test/", { waitUntil: "domcontentloaded" });
      if (alsoNmap) {
        const nmap = spawn("ip", ["netns", "exec", ns, "nmap", "-sT", "-Pn", "-n", "--max-retries", "0", "--host-timeout", "20s", "-p", "80", ...Array.from({ length: 12 }, (_, i) => literal(i))], { stdio: "ignore" });
        nmapPid = nmap.pid;
        await once(nmap, "exit");
      }
      // Every dead first contact is due 1 s after it started.
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      await browser.close();
    }
    assert.equal(await w.stop(), 0, w.stderr);
    const stop = await w.waitFor((l) => l.type === "stop");
    const totals = stop.processes as { pid: number; name: string; attempts: number }[];
    const browserPids = totals.filter((t) => t.name.startsWith("chrom")).map((t) => t.pid);
    const verdicts = w.lines.filter((l) => l.type === "verdict") as unknown as { pid: number; verdict: string; firstContacts: number }[];
    return { w, totals, browserPids, verdicts, nmapPid };
  }

  test("Chromium loading a page with 30 dead and 10 live named hosts is not a scanner, and the incident names the destinations; nmap -sT over literal addresses beside it is", async () => {
    const r = await browse([], true);
    const browserAttempts = r.totals.filter((t) => r.browserPids.includes(t.pid)).reduce((n, t) => n + t.attempts, 0);
    assert.ok(browserAttempts >= 30, `the browser connected to the dead hosts (${browserAttempts} attempts)`);
    assert.deepEqual(r.verdicts.filter((v) => r.browserPids.includes(v.pid) && v.verdict === "scanner"), [], "the browser is not a scanner");
    const nmap = r.verdicts.find((v) => v.pid === r.nmapPid);
    assert.equal(nmap?.verdict, "scanner", "nmap -sT over literal addresses is");
    assert.ok((nmap?.firstContacts ?? 99) <= 6, `within 6 first contacts (${nmap?.firstContacts})`);
    const samples = r.w
      .incidents()
      .flatMap((i) => i.processes as { pid: number; sample: { dst: string; dstName?: string }[] }[])
      .filter((p) => r.browserPids.includes(p.pid))
      .flatMap((p) => p.sample);
    assert.ok(samples.length > 0, "the browser is in an incident");
    for (const s of samples) {
      const m = /^(dead|live)(\d+)\.lab\.test$/.exec(s.dstName ?? "");
      assert.ok(m, `named by the DNS answer: ${JSON.stringify(s)}`);
      assert.equal(s.dst, `${m[1] === "dead" ? dead(Number(m[2])) : live(Number(m[2]))}:80`, "the name is the one the answer gave for that address");
    }
  });

  test("the anchor: under --no-dns the same page makes the browser a scanner, as before this change", async () => {
    const r = await browse(["--no-dns"], false);
    assert.ok(r.verdicts.some((v) => r.browserPids.includes(v.pid) && v.verdict === "scanner"), `verdicts: ${JSON.stringify(r.verdicts)}`);
  });

  test("ls names a half-open remote by the DNS answer a running watch saw (its database), and --no-names shows the address", async () => {
    const db = join(dir, "names.db");
    const w = new WatchProcess(["--interval", "0", "--quiet", "1", "--netns", ns, "--db", db, "--no-raw-senders"]);
    running.add(w);
    await w.waitFor((l) => l.type === "start");
    // A program that resolves a dead host's name and waits on its connect.
    const py = spawn("ip", ["netns", "exec", ns, "python3", "-c", "import socket; socket.create_connection(('dead7.lab.test', 80), timeout=30)"], { stdio: "ignore" });
    children.push(py);
    const ls = (...args: string[]) => {
      const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "ls", "--netns", ns, "--db", db, ...args], { cwd: REPO, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const deadline = Date.now() + 20_000;
    let row: { name: string; remotes: string[]; remoteNames?: Record<string, string> } | undefined;
    while (Date.now() < deadline) {
      const report = JSON.parse(ls("--json")) as { processes: { name: string; remotes: string[]; remoteNames?: Record<string, string> }[] };
      row = report.processes.find((p) => p.name.startsWith("python3"));
      if (row?.remoteNames) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(row?.remotes, [`${dead(7)}:80`], JSON.stringify(row));
    assert.deepEqual(row?.remoteNames, { [`${dead(7)}:80`]: "dead7.lab.test" }, "named by the answer the watch saw");
    assert.match(ls(), /python3 .* dead7\.lab\.test:80$/m, "the table shows the name");
    assert.match(ls("--no-names"), new RegExp(`python3 .* ${dead(7).replaceAll(".", "\\.")}:80$`, "m"), "--no-names: the address");
    py.kill("SIGKILL");
  });
});
