/**
 * The scan verdicts on real programs that nobody here wrote (second table of
 * part `verdicts`, root, about a minute): in a network namespace the bench
 * creates, dnsmasq answers names for live and dead lab hosts (dead ones drop
 * SYNs), a small web server answers on the live ones, and at once:
 *   - Debian's Chromium (playwright-core) loads a page with 30 images on dead
 *     named hosts and 10 on live ones;
 *   - Prometheus scrapes 10 named targets every second, 3 of them down;
 *   - `wget --recursive` crawls a site whose links name 10 live and 5 dead hosts;
 *   - `curl` fetches 15 named URLs, 5 of them on dead hosts;
 *   - `nmap -sT -Pn` and `pnscan` sweep literal addresses (a /24 each, mostly dead).
 * All through one `halfopen watch --record` (tracefs, DNS answers watched).
 * Per program: the live verdict; then, on the same recording through the same
 * core, the plain TRW that does not know which addresses were looked up
 * (`resolved: "observe"`, the behaviour before DNS-aware verdicts) and
 * Zeek's old scan.zeek rule (25 distinct hosts on one port within 5 min), as
 * anchors in the same run.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectEvent } from "../src/core/events.js";
import { HalfOpenMonitor, isOutput } from "../src/core/monitor.js";
import { RecordDecoder } from "../src/core/record-format.js";
import { ScanVerdictDetector, type VerdictFinding } from "../src/core/scan-detector.js";
import { startWatch, stopChild } from "./monitor.js";

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CHROMIUM = "/usr/bin/chromium";
const DNS = "198.18.0.53";
const live = (i: number) => `198.18.1.${1 + i}`;
const dead = (i: number) => `198.18.2.${1 + i}`;

export function realProgramsSkipReason(): string | undefined {
  const missing = ["dnsmasq", "nmap", "pnscan", "wget", "curl", "prometheus", CHROMIUM].filter((c) => spawnSync("sh", ["-c", 'command -v "$0"', c]).status !== 0);
  return missing.length > 0 ? `needs ${missing.join(", ")}` : undefined;
}

interface Program {
  name: string;
  label: "benign" | "scanner";
  what: string;
  /** Process names (comm) that are this program. */
  match: (name: string) => boolean;
}

const PROGRAMS: Program[] = [
  { name: "chromium", label: "benign", what: "Chromium: one page, 30 images on dead named hosts, 10 on live ones", match: (n) => n.startsWith("chrom") },
  { name: "prometheus", label: "benign", what: "Prometheus: 10 named targets, 3 down, scraped every second", match: (n) => n === "prometheus" },
  { name: "wget", label: "benign", what: "wget --recursive: a site linking 10 live and 5 dead named hosts", match: (n) => n === "wget" },
  { name: "curl", label: "benign", what: "curl: 15 named URLs, 5 on dead hosts", match: (n) => n === "curl" },
  { name: "nmap", label: "scanner", what: "nmap -sT -Pn: a /24 of literal addresses, 5 live", match: (n) => n === "nmap" },
  { name: "pnscan", label: "scanner", what: "pnscan: a /24 of literal addresses, port 445", match: (n) => n === "pnscan" },
];

function labSetup(ns: string, dir: string): ChildProcess[] {
  spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  execFileSync("ip", ["netns", "add", ns]);
  const run = (...a: string[]) => execFileSync("ip", ["netns", "exec", ns, ...a]);
  run("ip", "link", "set", "lo", "up");
  run("ip", "addr", "add", `${DNS}/32`, "dev", "lo");
  run("ip", "route", "add", "local", "198.18.0.0/16", "dev", "lo");
  // Live: 198.18.1.0/24 and five hosts of the scanners' /24s; everything else in the /16 drops SYNs.
  execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
    input: `table inet halfopen_realverdicts {\n  set live { type ipv4_addr; flags interval; elements = { ${DNS}, 198.18.1.0/24, 198.18.16.10, 198.18.16.20, 198.18.16.30, 198.18.16.40, 198.18.16.50 } }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr 198.18.0.0/16 ip daddr != @live tcp flags & (syn | ack) == syn drop\n  }\n}\n`,
  });
  const names = [...Array.from({ length: 20 }, (_, i) => `${live(i)} live${i}.lab.test`), ...Array.from({ length: 40 }, (_, i) => `${dead(i)} dead${i}.lab.test`)];
  writeFileSync(join(dir, "hosts"), `${names.join("\n")}\n`);
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${DNS}\n`);
  const img = (h: string) => `<img src="http://${h}/i.gif">`;
  const page = [...Array.from({ length: 30 }, (_, i) => img(`dead${i}.lab.test`)), ...Array.from({ length: 10 }, (_, i) => img(`live${i}.lab.test`))].join("\n");
  const site = [...Array.from({ length: 10 }, (_, i) => `<a href="http://live${i}.lab.test/p.html">x</a>`), ...Array.from({ length: 5 }, (_, i) => `<a href="http://dead${30 + i}.lab.test/p.html">x</a>`)].join("\n");
  const server = `const http=require("http");const page=${JSON.stringify(page)};const site=${JSON.stringify(site)};
http.createServer((q,s)=>{if(q.url==="/"){s.setHeader("content-type","text/html");s.end(page)}else if(q.url==="/site.html"){s.setHeader("content-type","text/html");s.end(site)}else if(q.url==="/metrics"){s.end("up 1\\n")}else s.end("x")}).listen(80,"0.0.0.0",()=>console.log("ready"));`;
  const children = [
    spawn("ip", ["netns", "exec", ns, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", `--addn-hosts=${join(dir, "hosts")}`, `--listen-address=${DNS}`, "--bind-interfaces", "--local-ttl=60", "-u", "root", "--pid-file"], { stdio: "ignore" }),
    spawn("ip", ["netns", "exec", ns, process.execPath, "-e", server], { stdio: "ignore" }),
  ];
  writeFileSync(join(dir, "chromium-in-lab"), `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(join(dir, "chromium-in-lab"), 0o755);
  const targets = [...Array.from({ length: 7 }, (_, i) => `live${10 + i}.lab.test:80`), ...Array.from({ length: 3 }, (_, i) => `dead${35 + i}.lab.test:80`)];
  writeFileSync(join(dir, "prometheus.yml"), `global: { scrape_interval: 1s, scrape_timeout: 900ms }\nscrape_configs:\n  - job_name: lab\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`);
  return children;
}

/** Verdicts of the recording through the core: DNS-aware (as watch runs) or the plain TRW (looked-up addresses observed too). */
function offline(record: string, resolved: "skip" | "observe"): { verdicts: VerdictFinding[]; connects: ConnectEvent[]; answered: Set<string> } {
  const decoder = new RecordDecoder();
  const monitor = new HalfOpenMonitor({ limit: 100_000, detectors: [new ScanVerdictDetector({ resolved })] });
  const verdicts: VerdictFinding[] = [];
  const connects: ConnectEvent[] = [];
  const answered = new Set<string>();
  let last = 0;
  const take = (outs: ReturnType<HalfOpenMonitor["handle"]>) => {
    for (const o of outs) if (isOutput(o, "verdict")) verdicts.push(o);
  };
  for (const line of readFileSync(record, "utf8").split("\n")) {
    if (!line) continue;
    for (const item of decoder.line(line)) {
      if (item.kind === "event") {
        if (item.event.type === "connect") connects.push(item.event);
        if (item.event.type === "dns") answered.add(item.event.address);
        take(monitor.handle(item.event));
        last = Math.max(last, item.event.time);
      } else if (item.kind === "tick") {
        take(monitor.tick(item.time));
        last = item.time;
      }
    }
  }
  take(monitor.flush(last));
  return { verdicts, connects, answered };
}

/** Zeek's old scan.zeek rule on one program's connects: first time 25 distinct hosts on one port within 5 min. */
function zeek(connects: ConnectEvent[]): number | undefined {
  const byPort = new Map<number, Map<string, number>>();
  const first = connects[0]?.time ?? 0;
  for (const c of connects) {
    let hosts = byPort.get(c.dst.port);
    if (!hosts) byPort.set(c.dst.port, (hosts = new Map()));
    hosts.set(c.dst.address, c.time);
    if ([...hosts.values()].filter((t) => t >= c.time - 300_000).length >= 25) return c.time - first;
  }
  return undefined;
}

export async function runRealProgramsBench(): Promise<string> {
  const ns = `horeal-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "halfopen-real-"));
  const record = join(dir, "real.record.jsonl");
  const children = labSetup(ns, dir);
  try {
    await sleep(800);
    const watch = startWatch(["--interval", "0", "--no-store", "--limit", "100000", "--no-raw-senders", "--netns", ns, "--record", record]);
    await watch.started;
    log("verdicts: real programs at once (Chromium, Prometheus, wget, curl, nmap -sT, pnscan)");
    const inLab = (cmd: string, args: string[]) => spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: "ignore", cwd: dir });
    const prometheus = inLab("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, "--web.listen-address=127.0.0.1:9090"]);
    const tools = [
      inLab("wget", ["-q", "-r", "-l", "1", "-H", "-D", "lab.test", "-e", "robots=off", "--timeout=2", "--tries=1", "-P", join(dir, "wget"), "http://live0.lab.test/site.html"]),
      inLab("curl", ["-s", "-o", "/dev/null", "-m", "3", "--parallel", ...Array.from({ length: 15 }, (_, i) => (i < 10 ? `http://live${i}.lab.test/c` : `http://dead${20 + i}.lab.test/c`))]),
      inLab("nmap", ["-sT", "-Pn", "-n", "-p", "80", "--max-retries", "0", "198.18.16.0/24"]),
      inLab("pnscan", ["-t", "1000", "198.18.17.0/24", "445"]),
    ];
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: join(dir, "chromium-in-lab"), args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      await page.goto("http://live0.lab.test/", { waitUntil: "domcontentloaded" });
      await Promise.race([Promise.all(tools.map((t) => once(t, "exit"))), sleep(30_000)]);
      await sleep(3000);
    } finally {
      await browser.close();
    }
    for (const t of [...tools, prometheus]) t.kill("SIGKILL");
    await sleep(1500);
    await stopChild(watch.child);
    const liveVerdicts = watch.records.filter((r) => r.type === "verdict") as unknown as VerdictFinding[];
    const aware = offline(record, "skip");
    const plain = offline(record, "observe");
    const describe = (vs: VerdictFinding[], p: Program) => {
      const v = vs.find((x) => p.match(x.name) && x.verdict === "scanner") ?? vs.find((x) => p.match(x.name));
      return v ? `${v.verdict === "scanner" ? "**scanner**" : v.verdict} (${v.firstContacts} fc)` : "undecided";
    };
    const rows = PROGRAMS.map((p) => {
      const mine = aware.connects.filter((c) => p.match(c.process.name));
      const named = mine.filter((c) => aware.answered.has(c.dst.address)).length;
      const z = zeek(mine);
      const resolved = aware.verdicts.find((v) => p.match(v.name))?.evidence.resolvedFirstContacts;
      return `| ${p.what} | ${p.label} | ${mine.length} | ${named} | ${describe(liveVerdicts, p)} | ${describe(aware.verdicts, p)}${resolved ? `, ${resolved} looked up` : ""} | ${describe(plain.verdicts, p)} | ${z === undefined ? "-" : `flags, ${(z / 1000).toFixed(1)} s`} |`;
    });
    return [
      "### Real programs, with names",
      "",
      "Real programs nobody here wrote, at once in one lab namespace whose dnsmasq names 20 live and 40 dead hosts (dead",
      "ones drop SYNs), through one `halfopen watch --record` (DNS answers watched). `attempts`: connects seen; `to names`:",
      "of them, to addresses a DNS answer gave. Live verdict; then on the same recording through the same core: DNS-aware",
      "(as watch runs), and the anchors in the same run: the plain TRW that judges looked-up addresses too (the behaviour",
      "before this change) and Zeek's old scan.zeek rule (25 distinct hosts on one port within 5 min). fc: first contacts",
      "observed when decided.",
      "",
      "| program | label | attempts | to names | verdict (live) | DNS-aware (recording) | plain TRW (anchor) | Zeek 25/port (anchor) |",
      "|---|---|---:|---:|---|---|---|---|",
      ...rows,
      "",
    ].join("\n");
  } finally {
    for (const c of children) c.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
