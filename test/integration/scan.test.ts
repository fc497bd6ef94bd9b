/**
 * `halfopen scan` in its own lab (scan-lab.ts): two namespaces, a /24 of
 * live, firewalled and dead addresses. Root only; CI runs it.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { labSkipReason, until } from "./lab.js";
import { createScanLab, destroyScanLab, expectedOpen, FIREWALLED, LIVE_NO_OPEN, SCAN_PORTS, SSH_BANNER, V6_BLOCK, V6_CLOSED, V6_OPEN, type ScanLab } from "./scan-lab.js";
import { CLI, REPO, WatchProcess } from "./watch-process.js";
import { assertTimeFields, LEGACY_WALL_NAMES } from "../support/time-fields.js";

interface ScanJson {
  hosts: { address: string; status: string; reason?: string; ports: { port: number; state: string; reason: string; banner?: string }[] }[];
  summary: { total: number; done: number; skipped: number; up: number; down: number; open: number; unknown: number; probes: number; localErrors: number; peakInFlight: number; discovery: string; discoveryNote?: string };
  scanId?: number;
  previousScanId?: number;
}

const tools = ["nmap", "ndiff", "xmllint"];
function needs(): string | undefined {
  const missing = tools.filter((t) => !["/usr/bin", "/usr/sbin", "/bin"].some((d) => existsSync(`${d}/${t}`)));
  if (!existsSync("/usr/share/nmap/nmap.dtd")) missing.push("nmap-common (nmap.dtd)");
  return missing.length > 0 ? `needs ${missing.join(", ")} (Debian packages nmap, ndiff, libxml2-utils)` : undefined;
}

let skip = labSkipReason();
if (!skip) {
  skip = needs();
  if (skip && process.env.CI) throw new Error(`scan.test.ts cannot run under CI: ${skip}; .ci/run must provide it`);
}
if (skip) console.log(`# SKIP integration/scan: ${skip}`);

const PORTS = SCAN_PORTS.join(",");
const tmp = mkdtempSync(join(tmpdir(), "halfopen-scan-"));
// Scans are stored by default: in this test's own database, never the machine's.
process.env.HALFOPEN_DB = join(tmp, "scans.db");

/** `halfopen scan ...` in the scanner namespace, running: its output so far, and its end. */
function startScan(lab: ScanLab, args: string[]) {
  const child = spawn("ip", ["netns", "exec", lab.scanner.name, process.execPath, "--import", "tsx", CLI, "scan", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "", exit: once(child, "exit") as Promise<[number | null, string | null]> };
  child.stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
  return { child, out };
}

/** `halfopen scan ...` inside the scanner namespace (from the sources through tsx, or the built dist/ where tsx would not load: under a tiny descriptor limit). */
function scanIn(lab: ScanLab, args: string[], prefix: string[] = [], built = false) {
  const cli = built ? [join(REPO, "dist/cli/main.js")] : ["--import", "tsx", CLI];
  return spawnSync("ip", ["netns", "exec", lab.scanner.name, ...prefix, process.execPath, ...cli, "scan", ...args], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
}

/** The CLI outside the lab (reading the database). */
const cliIn = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });

function openPorts(j: ScanJson): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const h of j.hosts) {
    const open = h.ports.filter((p) => p.state === "open").map((p) => p.port);
    if (open.length > 0) m.set(h.address, open);
  }
  return m;
}

/**
 * A grep-format (-oG) reader, as scripts read nmap's: the hosts with a
 * `Status: Up` line, each with its `Ports:` entries (port -> "state service")
 * when it has that field.
 */
function parseGrepable(text: string): Map<string, { ports?: Map<number, string> }> {
  const hosts = new Map<string, { ports?: Map<number, string> }>();
  for (const line of text.split("\n")) {
    const m = /^Host: (\S+) \([^)]*\)\t(.*)$/.exec(line);
    if (!m) continue;
    const fields = new Map((m[2] as string).split("\t").map((f) => [f.slice(0, f.indexOf(":")), f.slice(f.indexOf(":") + 2)] as const));
    const h = hosts.get(m[1] as string) ?? {};
    if (fields.get("Status") === "Up") hosts.set(m[1] as string, h);
    const ports = fields.get("Ports");
    if (ports !== undefined) {
      h.ports = new Map();
      for (const entry of ports.split(", ").filter(Boolean)) {
        const [port, state, , , service] = entry.split("/");
        h.ports.set(Number(port), `${state} ${service}`);
      }
    }
  }
  return hosts;
}

const sorted = (m: Map<string, number[]>) => [...m].map(([a, p]) => [a, [...p].sort((x, y) => x - y)] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));

describe("halfopen scan (netns lab)", { skip }, () => {
  let lab: ScanLab | undefined;
  let full: ScanJson;
  before(async () => {
    lab = await createScanLab();
  });
  after(() => destroyScanLab(lab));

  it("default mode finds every open port of the hosts discovery can see and no false ones; SYN_SENT never exceeds the budget (ss and watch --limit, from outside)", async () => {
    const l = lab as ScanLab;
    const watch = new WatchProcess(["--netns", l.scanner.name, "--limit", "10", "--interval", "0.5", "--no-store"]);
    try {
      await watch.waitFor((x) => x.type === "start");
      // ss in the scanner's namespace, every 20 ms while the scan runs.
      let peak = 0;
      let samples = 0;
      let stop = false;
      const sampler = (async () => {
        while (!stop) {
          const out = spawnSync("ip", ["netns", "exec", l.scanner.name, "ss", "-Htn", "state", "syn-sent"], { encoding: "utf8" }).stdout;
          peak = Math.max(peak, out.split("\n").filter(Boolean).length);
          samples++;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const run = async (args: string[]) => {
        const child = spawn("ip", ["netns", "exec", l.scanner.name, process.execPath, "--import", "tsx", CLI, "scan", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        const [code] = (await once(child, "exit")) as [number];
        assert.equal(code, 0, err);
        return JSON.parse(out) as ScanJson;
      };
      full = await run(["198.18.0.0/24", "-p", PORTS, "--max-half-open", "10", "--json", "--banner", "0.5"]);
      // Then a load that fills the budget: 40 connects to addresses that drop everything, 1 s each.
      const stress = await run(["-Pn", "198.18.0.100-119", "-p", "22,80", "--retries", "0", "--max-half-open", "10", "--json"]);
      stop = true;
      await sampler;
      assert.equal(stress.summary.peakInFlight, 10);
      assert.deepEqual([...new Set(stress.hosts.flatMap((h) => h.ports.map((p) => p.state)))], ["filtered"]);
      const want = new Map([...expectedOpen()].filter(([a]) => a !== "198.18.0.41"));
      assert.deepEqual(sorted(openPorts(full)), sorted(want), "every open port, nothing else");
      assert.equal(full.summary.total, 256);
      assert.equal(full.summary.discovery, "raw", "root: ICMP echo and TCP ACK over raw sockets, no half-open slot");
      assert.equal(full.summary.up, want.size + 1, "the hosts with open ports and the live host with none");
      const quiet = full.hosts.find((h) => h.address === FIREWALLED[0]);
      assert.deepEqual(
        quiet?.ports.filter((p) => p.state !== "open").map((p) => p.state),
        ["filtered", "filtered", "filtered", "filtered"],
        "closed ports a firewall drops are filtered, never closed",
      );
      assert.ok(!full.hosts.some((h) => h.address === FIREWALLED[1]), "a host that drops everything but 3389 answers no discovery probe (nmap's default discovery misses it too)");
      assert.deepEqual(full.hosts.find((h) => h.address === LIVE_NO_OPEN)?.ports.map((p) => p.state), ["closed", "closed", "closed", "closed", "closed"]);
      const ssh = full.hosts.find((h) => h.address === "198.18.0.10")?.ports.find((p) => p.port === 22);
      assert.equal(ssh?.banner, `${SSH_BANNER}\r\n`, "the banner, raw in JSON");
      assert.ok(full.summary.peakInFlight <= 10);
      // The exact witness: the monitor's per-period maximum (tracefs, in kernel order). ss shows the load, but its
      // netlink dump is not atomic (a socket closed during the dump and one opened after it can both be counted).
      const peaks = watch.lines.filter((x) => x.type === "summary").map((x) => Number(x.maxHalfOpen));
      assert.ok(peaks.length >= 3, `${peaks.length} summaries`);
      assert.ok(Math.max(...peaks) <= 10 && Math.max(...peaks) >= 5, `the monitor saw at most ${Math.max(...peaks)} half-open`);
      assert.ok(samples > 10, `ss sampled ${samples} times`);
      assert.ok(peak >= 5, `ss saw the scan at work (${peak})`);
      assert.deepEqual(
        watch.lines.filter((x) => x.type === "incident"),
        [],
        "watch --limit 10 on the scanner's namespace saw no incident",
      );
    } finally {
      watch.child.kill("SIGINT");
      await once(watch.child, "exit");
    }
  });

  it("IPv6: ICMPv6 echo and TCP ACK over raw sockets find the live hosts of a block (no slot, no fallback), the silent ones are down", () => {
    const l = lab as ScanLab;
    const r = scanIn(l, [V6_BLOCK, "-p", "22,80", "--json", "--no-store"]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as ScanJson;
    assert.equal(j.summary.total, 256);
    assert.equal(j.summary.discovery, "raw");
    assert.equal(j.summary.discoveryNote, undefined, "no fallback said");
    assert.deepEqual(
      j.hosts.map((h) => [h.address, h.reason, h.ports.map((p) => p.state).join(",")]),
      [
        [V6_OPEN[0], "echo-reply", "open,open"],
        [V6_OPEN[1], "echo-reply", "open,open"],
        [V6_CLOSED, "echo-reply", "closed,closed"],
      ],
    );
    assert.equal(j.summary.up, 3);
    assert.equal(j.summary.down, 253);
    // Only the live hosts' ports were connected to: discovery spent no connect.
    assert.equal(j.summary.probes, 6);
  });

  it("-Pn finds a host that answers nothing but one open port", () => {
    const r = scanIn(lab as ScanLab, ["-Pn", "198.18.0.40-41", "-p", PORTS, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as ScanJson;
    assert.deepEqual(sorted(openPorts(j)), [
      ["198.18.0.40", [443]],
      ["198.18.0.41", [3389]],
    ]);
    assert.equal(j.summary.discovery, "none");
  });

  it("the union of --shard 1/3, 2/3 and 3/3 equals the full scan", () => {
    const union = new Map<string, number[]>();
    let total = 0;
    for (const k of [1, 2, 3]) {
      const r = scanIn(lab as ScanLab, ["198.18.0.0/24", "-p", PORTS, "--json", "--shard", `${k}/3`]);
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout) as ScanJson;
      total += j.summary.total;
      for (const [a, p] of openPorts(j)) {
        assert.ok(!union.has(a), `${a} in two shards`);
        union.set(a, p);
      }
    }
    assert.equal(total, 256);
    assert.deepEqual(sorted(union), sorted(openPorts(full)));
  });

  it("the text output escapes what the target controls; a low descriptor limit gives unknown or retries, never a false closed", () => {
    const text = scanIn(lab as ScanLab, ["198.18.0.10", "-p", "22", "--banner", "0.5", "--no-progress"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /22\/tcp +open +ssh +syn-ack +SSH-2\.0-halfopen-lab \\x1b\[31mred\\x1b\[0m/);
    assert.ok(!text.stdout.includes("\x1b"), "no raw escape reaches the terminal");
    // 64 connects at once under 32 descriptors (Node, its module loader and the scan database take about 20): EMFILE on most of them.
    const r = scanIn(lab as ScanLab, ["-Pn", "198.18.0.10-29", "-p", PORTS, "--max-half-open", "64", "--json"], ["prlimit", "--nofile=32:32", "--"], true);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as ScanJson;
    assert.ok(j.summary.localErrors > 0, "the limit was hit");
    for (const [address, ports] of expectedOpen()) {
      if (!address.match(/^198\.18\.0\.(1\d|2\d)$/)) continue;
      const host = j.hosts.find((h) => h.address === address);
      for (const p of ports) {
        const got = host?.ports.find((x) => x.port === p)?.state;
        assert.ok(got === "open" || got === "unknown", `${address}:${p} is ${got}`);
      }
    }
  });

  it("-oX is valid against nmap's DTD, and ndiff reads it against nmap's own scan of the same hosts: no host or port differs", () => {
    const ours = join(tmp, "ours.xml");
    const theirs = join(tmp, "nmap.xml");
    const targets = ["198.18.0.10-15", LIVE_NO_OPEN, FIREWALLED[0]];
    const r = scanIn(lab as ScanLab, ["-Pn", ...targets, "-p", PORTS, "-oX", ours]);
    assert.equal(r.status, 0, r.stderr);
    execFileSync("xmllint", ["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd", ours]);
    execFileSync("ip", ["netns", "exec", (lab as ScanLab).scanner.name, "nmap", "-sT", "-Pn", "-n", "-p", PORTS, "--max-retries", "1", "-oX", theirs, ...targets], { stdio: "ignore" });
    const diff = spawnSync("ndiff", [theirs, ours], { encoding: "utf8" });
    assert.ok(diff.status === 0 || diff.status === 1, diff.stderr);
    const changed = diff.stdout.split("\n").filter((l) => /^[-+]/.test(l) && !/^[-+]Nmap /.test(l));
    assert.deepEqual(changed, [], diff.stdout);
    assert.match(readFileSync(ours, "utf8"), /<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"\/><service name="ssh"/);
  });

  it("nmap's habits: -sn finds the hosts nmap -sn finds; --top-ports 5 -oA writes XML valid against nmap's DTD and -oG that a grep-format parser reads as nmap's own -oG of the same hosts", () => {
    const l = lab as ScanLab;
    const targets = ["198.18.0.8-16", LIVE_NO_OPEN, FIREWALLED[0]];
    // -sn: discovery only, both ways.
    const ours = scanIn(l, ["-sn", ...targets, "-oG", "-"]);
    assert.equal(ours.status, 0, ours.stderr);
    const theirs = execFileSync("ip", ["netns", "exec", l.scanner.name, "nmap", "-sn", "-n", "-oG", "-", ...targets], { encoding: "utf8" });
    const upOf = (text: string) => [...parseGrepable(text).keys()].sort();
    assert.deepEqual(upOf(ours.stdout), upOf(theirs));
    assert.ok(upOf(ours.stdout).length >= 8, ours.stdout);
    for (const h of parseGrepable(ours.stdout).values()) assert.equal(h.ports, undefined, "no Ports field with -sn");
    // --top-ports 5 -oA: three files.
    const base = join(tmp, "top5");
    const r = scanIn(l, ["-Pn", ...targets, "--top-ports", "5", "-oA", base]);
    assert.equal(r.status, 0, r.stderr);
    execFileSync("xmllint", ["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd", `${base}.xml`]);
    const nmapG = execFileSync("ip", ["netns", "exec", l.scanner.name, "nmap", "-sT", "-Pn", "-n", "--top-ports", "5", "--max-retries", "1", "-oG", "-", ...targets], { encoding: "utf8" });
    const mine = parseGrepable(readFileSync(`${base}.gnmap`, "utf8"));
    const nmaps = parseGrepable(nmapG);
    assert.deepEqual([...mine.keys()].sort(), [...nmaps.keys()].sort());
    for (const [address, h] of nmaps) assert.deepEqual(mine.get(address)?.ports, h.ports, address);
    assert.deepEqual([...(mine.get("198.18.0.10")?.ports?.keys() ?? [])].sort((a, b) => a - b), [21, 22, 23, 80, 443], "nmap's top 5 ports");
    const normal = readFileSync(`${base}.nmap`, "utf8");
    assert.match(normal, /^198\.18\.0\.10 up/m);
    assert.match(normal, /^ {2}22\/tcp +open +ssh +syn-ack/m);
  });

  it("unprivileged: as nobody, discovery falls back to a ping socket (with connects for the silent) or to connects, says so, and finds the same", () => {
    const l = lab as ScanLab;
    const targets = ["198.18.0.8-20", FIREWALLED[0], `${V6_OPEN[0]}-${V6_CLOSED}`];
    const want = new Map([...expectedOpen()].filter(([a]) => Number(a.split(".")[3]) <= 20 || a === FIREWALLED[0]));
    for (const a of V6_OPEN) want.set(a, [...SCAN_PORTS]);
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
    const connect = scanIn(l, [...targets, "-p", PORTS, "--json", "--no-store"], asNobody);
    assert.equal(connect.status, 0, connect.stderr);
    const c = JSON.parse(connect.stdout) as ScanJson;
    assert.equal(c.summary.discovery, "connect");
    assert.match(c.summary.discoveryNote ?? "", /no CAP_NET_RAW and no ping socket .*discovering hosts by connect to 80 and 443, inside the budget/);
    assert.deepEqual(sorted(openPorts(c)), sorted(want));
    execFileSync("ip", ["netns", "exec", l.scanner.name, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"]);
    try {
      const ping = scanIn(l, [...targets, "-p", PORTS, "--json", "--no-store"], asNobody);
      assert.equal(ping.status, 0, ping.stderr);
      const p = JSON.parse(ping.stdout) as ScanJson;
      assert.equal(p.summary.discovery, "ping-socket");
      assert.match(p.summary.discoveryNote ?? "", /ICMP through a ping socket, then connects to 80 and 443 for hosts that did not answer/);
      assert.deepEqual(sorted(openPorts(p)), sorted(want), "the firewalled host, silent to ICMP, is found by the connect to 443");
      assert.equal(p.hosts.find((h) => h.address === V6_CLOSED)?.reason, "echo-reply", "IPv6 through a ping socket too");
    } finally {
      execFileSync("ip", ["netns", "exec", l.scanner.name, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0"]);
    }
  });

  it("--resume: a scan killed with SIGKILL and resumed from its journal equals the full scan, without redoing finished hosts", async () => {
    const l = lab as ScanLab;
    const journal = join(tmp, "resume.journal");
    // -Pn over a /26 with a small budget: dead addresses take a timeout per port, so the scan lasts seconds.
    const args = ["-Pn", "198.18.0.0/26", "-p", PORTS, "--retries", "0", "--max-half-open", "4", "--json"];
    const first = startScan(l, [...args, "--resume", journal]);
    const hostLines = () => (existsSync(journal) ? readFileSync(journal, "utf8").split("\n").filter((x) => x.startsWith('{"type":"host"')).length : 0);
    await until("10 finished hosts in the journal", () => hostLines() >= 10);
    first.child.kill("SIGKILL");
    await first.out.exit;
    const done = hostLines();
    assert.ok(done < 64 && !readFileSync(journal, "utf8").includes('{"type":"end"'), `killed before the end (${done} hosts done)`);
    // A torn last line, as a kill in the middle of a write leaves it.
    writeFileSync(journal, `${readFileSync(journal, "utf8")}{"type":"host","host":{"addr`);
    const resumed = scanIn(l, ["--resume", journal, "--json"]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const r = JSON.parse(resumed.stdout) as ScanJson;
    assert.equal(r.summary.skipped, done, "the finished hosts were not scanned again");
    assert.equal(r.summary.total, 64);
    assert.ok(r.summary.probes <= (64 - done) * SCAN_PORTS.length, `${r.summary.probes} connects for ${64 - done} hosts`);
    const want = new Map([...expectedOpen()].filter(([a]) => Number(a.split(".")[3]) < 64));
    assert.deepEqual(sorted(openPorts(r)), sorted(want), "every open port of the /26, as a full -Pn scan finds them");
    assert.equal(r.hosts.length, 64, "-Pn: every address is reported");
    assert.deepEqual(r.hosts.map((h) => h.address), [...r.hosts.map((h) => h.address)].sort((a, b) => Number(a.split(".")[3]) - Number(b.split(".")[3])), "in address order");
    // The same command line with targets must match the journal; the finished journal is printed, not rescanned.
    const other = scanIn(l, ["-Pn", "198.18.0.0/25", "-p", PORTS, "--resume", journal]);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /Cannot resume from ".*resume\.journal": it holds another scan \(targets: the journal has 198\.18\.0\.0\/26, the command line 198\.18\.0\.0\/25\).*\[HALFOPEN_BAD_RESUME\]/);
    const again = scanIn(l, [...args, "--resume", journal]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /holds a finished scan \(64\s+hosts\); printing it as stored/);
    assert.deepEqual(sorted(openPorts(JSON.parse(again.stdout) as ScanJson)), sorted(want));
  });

  it("--every reports a port opened between two rounds (lines, JSON records, --on-change with JSON on stdin), and scans diff shows it", async () => {
    const l = lab as ScanLab;
    const db = join(tmp, "every.db");
    const hookOut = join(tmp, "hook.jsonl");
    const hook = join(tmp, "hook.sh");
    writeFileSync(hook, `#!/bin/sh\ncat >> "$1"\n`, { mode: 0o755 });
    const running = startScan(l, ["198.18.0.8-12", LIVE_NO_OPEN, "-p", PORTS, "--every", "1s", "--json", "--db", db, "--on-change", `${hook} ${hookOut}`]);
    const records = () => running.out.stdout.split("\n").filter(Boolean).map((x) => JSON.parse(x) as Record<string, unknown>);
    const nft = (verb: string) => execFileSync("ip", ["netns", "exec", l.target.name, "nft", verb, "element", "ip", "halfopen_scanlab", "open", `{ ${LIVE_NO_OPEN} . 8080 }`]);
    try {
      await until("the first round", () => records().some((x) => x.type === "round"));
      nft("add");
      await until("a change record", () => records().some((x) => x.type === "change"));
      await until("the hook's record", () => existsSync(hookOut) && readFileSync(hookOut, "utf8").includes("port-opened"));
    } finally {
      nft("delete");
      running.child.kill("SIGINT");
      await running.out.exit;
    }
    const change = records().find((x) => x.type === "change");
    assert.deepEqual({ ...change, at: undefined, atWall: undefined, round: undefined, scanId: undefined, previousScanId: undefined }, { type: "change", change: "port-opened", address: LIVE_NO_OPEN, port: 8080, from: "closed", to: "open", at: undefined, atWall: undefined, round: undefined, scanId: undefined, previousScanId: undefined });
    for (const r of records()) assertTimeFields(`scan --every ${String(r.type)}`, r, LEGACY_WALL_NAMES);
    const rounds = records().filter((x) => x.type === "round");
    assert.equal(rounds[0]?.previousScanId, undefined, "the first round has nothing to compare with");
    assert.deepEqual(records().filter((x) => x.type === "change").length, 1, `exactly one change: ${running.out.stdout}`);
    const sent = JSON.parse(readFileSync(hookOut, "utf8").split("\n")[0] as string) as { changes: unknown[]; scanId: number; previousScanId: number };
    assert.deepEqual(sent.changes, [{ change: "port-opened", address: LIVE_NO_OPEN, port: 8080, from: "closed", to: "open" }]);
    assert.equal(sent.scanId, change?.scanId);
    assert.ok(assertTimeFields("--on-change input", sent, LEGACY_WALL_NAMES) >= 2 && "atWall" in sent);
    const list = cliIn(["scans", "--db", db, "--json"]);
    const scans = (JSON.parse(list.stdout) as { scans: { id: number; state: string; up: number; open: number }[] }).scans;
    const before = scans.find((x) => x.id === sent.previousScanId);
    const afterScan = scans.find((x) => x.id === sent.scanId);
    assert.ok(before && afterScan && before.up === afterScan.up && afterScan.open === before.open + 1, list.stdout);
    const diff = cliIn(["scans", "diff", String(sent.previousScanId), String(sent.scanId), "--db", db]);
    assert.equal(diff.status, 0, diff.stderr);
    assert.match(diff.stdout, new RegExp(`^scan #${sent.previousScanId} .* -> scan #${sent.scanId} .*: 1 change\n\\+ ${LIVE_NO_OPEN.replace(/\./g, "\\.")} 8080/tcp open \\(was closed\\)\n$`));
  });
});
