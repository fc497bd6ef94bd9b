/**
 * SYNs sent without connect() (root, two-namespace lab, real tools from
 * Debian packages): `watch` names nmap -sS, masscan, zmap, hping3 and a
 * raw-socket sender written for the test, each with its exact pid, a SYN
 * count within 1% of what the target namespace counted (nftables counters
 * there), its destinations and a scanner verdict within 6 first contacts;
 * two raw senders at once each get their own SYNs; ping and a DHCP-shaped
 * packet-socket sender are never scanners. Each watch counts only the
 * scanner namespace (--netns). Under CI a missing tool fails the suite.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import { DROPPED_FROM, SCANNER_ADDRESS, TARGET_ADDRESS, TARGET_ADDRESS6, describeRawLab, synCounts, type RawLab, type SynCounts } from "./raw-lab.js";
import { REPO, WatchProcess, runConnector, type JsonLine } from "./watch-process.js";
import { replayIncidents } from "./replay-helpers.js";

type ProcessTotals = { pid: number; name: string; attempts: number; syns?: number; via?: string; outcomes: Record<string, number> };
type IncidentProcess = { pid: number; name: string; via?: string; distinctDestinations: number; attempts: number; exe?: string; cmdline?: string[] };
type Verdict = { pid: number; verdict: string; firstContacts: number };

function inScanner(lab: RawLab, cmd: string, args: string[]): ChildProcess {
  // `ip netns exec` execs the command: the child's pid is the tool's.
  return spawn("ip", ["netns", "exec", lab.scanner, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Wait for a tool; `ok` are the exit codes that mean it ran (hping3 exits 1 when nothing answered). */
async function finished(child: ChildProcess, ok = [0]): Promise<void> {
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.ok(code !== null && ok.includes(code), `${child.spawnargs.join(" ")} exited ${String(code)}: ${err}`);
}

/** Every watch a test starts is ended after it, passed or failed (a live child would keep the runner waiting). */
const running = new Set<WatchProcess>();
afterEach(async () => {
  for (const w of running) await w.stop("SIGKILL");
  running.clear();
});

function delta(before: SynCounts, after: SynCounts): SynCounts {
  return { toTarget: after.toTarget - before.toTarget, toOthers: after.toOthers - before.toOthers, ipv6: after.ipv6 - before.ipv6 };
}

async function startWatch(lab: RawLab, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<WatchProcess> {
  const w = new WatchProcess(["--interval", "0", "--limit", "20", "--quiet", "1", "--raw-answer", "1", "--netns", lab.scanner, "--no-store", ...extra], undefined, env);
  running.add(w);
  const start = await w.waitFor((l) => l.type === "start");
  const details = start.sourceDetails as { rawSenders?: string } | undefined;
  assert.equal(start.source, "tracefs");
  assert.match(details?.rawSenders ?? "", /^visible via /, "this kernel lets us see raw senders: said at start");
  return w;
}

/** Stop the watch once every raw attempt has ended; its stop record's totals of `pid`. */
async function totalsOf(w: WatchProcess, pid: number): Promise<{ stop: JsonLine; p: ProcessTotals }> {
  // Unanswered raw SYNs end 1 s (--raw-answer) after they were sent.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await w.stop(), 0, w.stderr);
  const stop = await w.waitFor((l) => l.type === "stop");
  const p = (stop.processes as ProcessTotals[]).find((x) => x.pid === pid);
  assert.ok(p, `pid ${pid} in the totals: ${JSON.stringify(stop.processes)}`);
  return { stop, p };
}

function within1Percent(got: number, want: number, what: string): void {
  assert.ok(want > 0, `${what}: the target counted SYNs`);
  assert.ok(Math.abs(got - want) <= Math.max(1, want * 0.01), `${what}: ${got} SYNs named, the target counted ${want}`);
}

async function verdictOf(w: WatchProcess, pid: number): Promise<Verdict> {
  return (await w.waitFor((l) => l.type === "verdict" && l.pid === pid && l.verdict !== "undecided")) as unknown as Verdict;
}

function incidentProcess(w: WatchProcess, pid: number): IncidentProcess {
  const found = w.incidents().flatMap((i) => i.processes as IncidentProcess[]).find((p) => p.pid === pid);
  assert.ok(found, `pid ${pid} is named by an incident`);
  return found;
}

describeRawLab("raw and packet SYN senders (tracefs, two-namespace lab)", { file: "integration/raw-senders", prefix: "horaw", needs: ["nmap", "masscan", "zmap", "hping3", "python3", "ping"] }, (lab) => {
  test("nmap -sS: named with its pid, every SYN counted, its 800 destinations, a scanner within 6 first contacts; a replay of the recording names it the same", async () => {
    const record = join(mkdtempSync(join(tmpdir(), "halfopen-raw-")), "nmap.record");
    const w = await startWatch(lab, ["--record", record]);
    const before = synCounts(lab);
    const nmap = inScanner(lab, "nmap", ["-sS", "-Pn", "-n", "--max-retries", "1", "-p", `${DROPPED_FROM}-${DROPPED_FROM + 799}`, TARGET_ADDRESS]);
    await finished(nmap);
    const v = await verdictOf(w, nmap.pid as number);
    const { p } = await totalsOf(w, nmap.pid as number);
    const counted = delta(before, synCounts(lab));
    within1Percent(p.syns ?? 0, counted.toTarget, "nmap -sS");
    assert.equal(p.name, "nmap");
    assert.ok(p.via === "packet" || p.via === "raw", "nmap sends Ethernet frames on a packet socket (raw IP on loopback)");
    assert.equal(v.verdict, "scanner");
    assert.ok(v.firstContacts <= 6, `verdict after ${v.firstContacts} first contacts`);
    const named = incidentProcess(w, nmap.pid as number);
    within1Percent(named.distinctDestinations, 800, "nmap's destinations");
    assert.equal(named.via, p.via);
    assert.equal(named.exe, "/usr/bin/nmap");
    const replayed = (await replayIncidents(record, ["--limit", "20", "--quiet", "1", "--no-store"])).flatMap((i) => i.processes as IncidentProcess[]).find((x) => x.pid === nmap.pid);
    assert.deepEqual([replayed?.via, replayed?.distinctDestinations], [named.via, named.distinctDestinations], "the recording carries how the SYNs were sent");
  });

  /** Run a packet-socket scanner; it must be named, with SYNs and destinations within 1% of the truth, and be a scanner. */
  async function packetScanner(cmd: string, args: string[], counted: keyof SynCounts, destinations: number): Promise<void> {
    const w = await startWatch(lab);
    const before = synCounts(lab);
    const tool = inScanner(lab, cmd, args);
    await finished(tool);
    const v = await verdictOf(w, tool.pid as number);
    const { p } = await totalsOf(w, tool.pid as number);
    within1Percent(p.syns ?? 0, delta(before, synCounts(lab))[counted], cmd);
    assert.deepEqual([p.name, p.via], [cmd, "packet"]);
    assert.equal(v.verdict, "scanner");
    assert.ok(v.firstContacts <= 6, `verdict after ${v.firstContacts} first contacts`);
    within1Percent(incidentProcess(w, tool.pid as number).distinctDestinations, destinations, `${cmd}'s destinations`);
  }

  test("masscan --rate 2000 (packet socket): named, SYNs within 1%, destinations, a scanner", async () => {
    await packetScanner("masscan", [TARGET_ADDRESS, `-p${DROPPED_FROM}-${DROPPED_FROM + 767}`, "--rate", "2000", "--adapter", "v0", "--adapter-ip", SCANNER_ADDRESS, "--router-mac", lab.targetMac, "--wait", "0"], "toTarget", 768);
  });

  test("zmap (packet socket, 500 lab addresses): named, SYNs within 1%, 500 destinations, a scanner", async () => {
    // Its blocklist (/etc/zmap/blocklist.conf) names 198.18.0.0/15; ours is empty: the lab is all it can reach.
    await packetScanner("zmap", ["-p", "80", "-i", "v0", "-S", SCANNER_ADDRESS, "-G", lab.targetMac, "-r", "2000", "-n", "500", "-b", "/dev/null", "-q", "-c", "0", "-o", "/dev/null", "198.18.128.0/17"], "toOthers", 500);
  });

  test("hping3 -S (raw IP socket, 500 SYNs to successive ports): named, SYNs within 1%, a scanner; through the older kernels' syscall exit events too", async () => {
    for (const env of [{}, { HALFOPEN_RAW_SEND_EVENT: "syscalls" }]) await hping(env);
  });

  async function hping(env: NodeJS.ProcessEnv): Promise<void> {
    const w = await startWatch(lab, [], env);
    const details = w.lines.find((l) => l.type === "start")?.sourceDetails as { rawSenders: string };
    assert.match(details.rawSenders, env.HALFOPEN_RAW_SEND_EVENT ? /syscalls:sys_exit_send/ : /sock:sock_send_length/);
    const before = synCounts(lab);
    const hping = inScanner(lab, "hping3", ["-S", "-p", `++${DROPPED_FROM}`, "-c", "500", "-i", "u1000", TARGET_ADDRESS]);
    await finished(hping, [0, 1]);
    const v = await verdictOf(w, hping.pid as number);
    const { p } = await totalsOf(w, hping.pid as number);
    within1Percent(p.syns ?? 0, delta(before, synCounts(lab)).toTarget, "hping3");
    assert.deepEqual([p.name, p.via], ["hping3", "raw"]);
    assert.equal(v.verdict, "scanner");
    assert.ok(v.firstContacts <= 6);
    running.delete(w);
  }

  test("hping3 -S while a connect() in another namespace (the target's own) is in progress to each same address and port: every raw SYN still named", async () => {
    const w = await startWatch(lab);
    // 500 connects from inside the target namespace to its own address, held half-open by its drop rule: the same
    // destinations hping3 is about to send to, in a namespace hping3 is not in.
    const ports = Array.from({ length: 500 }, (_, i) => DROPPED_FROM + i);
    const kernel = await runConnector({ name: lab.target }, { title: "ho-rawns-k", host: TARGET_ADDRESS, ports, holdMs: 20_000 });
    try {
      const before = synCounts(lab);
      const hping = inScanner(lab, "hping3", ["-S", "-p", `++${DROPPED_FROM}`, "-c", "500", "-i", "u1000", TARGET_ADDRESS]);
      await finished(hping, [0, 1]);
      const { p } = await totalsOf(w, hping.pid as number);
      within1Percent(p.syns ?? 0, delta(before, synCounts(lab)).toTarget, "hping3 beside another namespace's connects");
    } finally {
      process.kill(kernel.pid, "SIGKILL");
      await kernel.exited;
    }
  });

  test("connects already half-open when a packet-socket holder starts beside them, and new ones while it runs: their SYNs are not the holder's, nor unattributed", async () => {
    // Until a capture opens, the source only keeps its connects (the join is not told: every attempt would pay);
    // the first capture is told the ones in progress. 100 connects from the scanner's namespace, held half-open by
    // the target's drop rule; then a packet-socket holder there that sends no SYN, for longer than the connects'
    // first SYN retransmission (1 s): the capture sees those SYNs, and must know they are the kernel's.
    const w = await startWatch(lab);
    const ports = Array.from({ length: 100 }, (_, i) => DROPPED_FROM + 1000 + i);
    const kernel = await runConnector({ name: lab.scanner }, { title: "ho-rawpre-k", host: TARGET_ADDRESS, ports, holdMs: 20_000 });
    try {
      await w.waitFor((l) => l.type === "incident-open");
      const before = synCounts(lab);
      const holder = inScanner(lab, "python3", [
        "-c",
        [
          "import socket,struct,time",
          "s=socket.socket(socket.AF_PACKET,socket.SOCK_DGRAM,socket.htons(0x0800))",
          "udp=struct.pack('!HHHH',68,67,8+240,0)+bytes(240)",
          "ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),1,0,64,17,0,bytes(4),bytes([255]*4))",
          "[ (s.sendto(ip+udp,('v0',0x0800,0,0,b'\\xff'*6)), time.sleep(0.01)) for i in range(250) ]",
        ].join("\n"),
      ]);
      // New connects while the capture is open and the incident too (the main buffers read at the relaxed pace):
      // their first SYNs are tapped before their connect records are read, and are still the kernel's.
      const fresh = await runConnector({ name: lab.scanner }, { title: "ho-rawpre-k2", host: TARGET_ADDRESS, ports: ports.map((p) => p + 100), holdMs: 20_000, spreadMs: 1000 });
      await finished(holder);
      const retransmitted = delta(before, synCounts(lab)).toTarget;
      assert.ok(retransmitted >= 200, `the connects' SYNs were retransmitted while the holder ran, and the new ones sent (${retransmitted} SYNs)`);
      assert.equal(await w.stop(), 0, w.stderr);
      const stop = await w.waitFor((l) => l.type === "stop");
      assert.deepEqual((stop.processes as ProcessTotals[]).filter((p) => p.pid === holder.pid), [], "no attempts of the holder's");
      assert.equal((stop.processes as ProcessTotals[]).find((p) => p.pid === fresh.pid)?.attempts, 100, "the new connects are their process's");
      assert.equal((stop.source as { rawUnattributed?: number }).rawUnattributed, 0, "no SYN left unattributed");
      assert.ok(((stop.source as { relaxedReads?: number }).relaxedReads ?? 0) > 0, "read at the relaxed pace meanwhile");
      process.kill(fresh.pid, "SIGKILL");
      await fresh.exited;
    } finally {
      process.kill(kernel.pid, "SIGKILL");
      await kernel.exited;
    }
  });

  test("two raw senders at once (nmap -sS and the test's IP_HDRINCL sender to random lab addresses) each get their own SYNs", async () => {
    const w = await startWatch(lab);
    const before = synCounts(lab);
    const sender = inScanner(lab, "python3", [`${REPO}test/integration/raw-syn-sender.py`, SCANNER_ADDRESS, "198.18.0.0", "600", "1000"]);
    const nmap = inScanner(lab, "nmap", ["-sS", "-Pn", "-n", "--max-retries", "0", "-p", `${DROPPED_FROM}-${DROPPED_FROM + 599}`, TARGET_ADDRESS]);
    await Promise.all([finished(sender), finished(nmap)]);
    const vs = await verdictOf(w, sender.pid as number);
    const vn = await verdictOf(w, nmap.pid as number);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await w.stop(), 0, w.stderr);
    const stop = await w.waitFor((l) => l.type === "stop");
    const counted = delta(before, synCounts(lab));
    const totals = (pid: number) => (stop.processes as ProcessTotals[]).find((x) => x.pid === pid);
    // The sender's destinations are never 198.18.1.2 (it draws 198.18.2-254.x), nmap's always are: the target's counters tell them apart.
    within1Percent(totals(sender.pid as number)?.syns ?? 0, counted.toOthers, "the IP_HDRINCL sender");
    within1Percent(totals(nmap.pid as number)?.syns ?? 0, counted.toTarget, "nmap -sS beside it");
    assert.equal(totals(sender.pid as number)?.via, "raw");
    assert.deepEqual([vs.verdict, vn.verdict], ["scanner", "scanner"]);
    const all = (stop.processes as ProcessTotals[]).filter((x) => x.syns !== undefined).map((x) => x.pid).sort();
    assert.deepEqual(all, [sender.pid, nmap.pid].sort(), "nobody else was given their SYNs");
  });

  test("nmap -6 -sS: IPv6 SYNs are named too", async () => {
    const w = await startWatch(lab);
    const before = synCounts(lab);
    const nmap = inScanner(lab, "nmap", ["-6", "-sS", "-Pn", "-n", "--max-retries", "0", "-p", `${DROPPED_FROM}-${DROPPED_FROM + 99}`, TARGET_ADDRESS6]);
    await finished(nmap);
    const { p } = await totalsOf(w, nmap.pid as number);
    within1Percent(p.syns ?? 0, delta(before, synCounts(lab)).ipv6, "nmap -6 -sS");
  });

  test("ping -c 200 -i 0.002 and a DHCP-shaped packet-socket UDP sender are never scanners and send no SYNs", async () => {
    const w = await startWatch(lab);
    const ping = inScanner(lab, "ping", ["-c", "200", "-i", "0.002", "-q", TARGET_ADDRESS]);
    // A DHCP client's shape: AF_PACKET SOCK_DGRAM, ETH_P_IP, UDP 68 -> 67 broadcasts.
    const dhcp = inScanner(lab, "python3", [
      "-c",
      [
        "import socket,struct,time",
        "s=socket.socket(socket.AF_PACKET,socket.SOCK_DGRAM,socket.htons(0x0800))",
        "udp=struct.pack('!HHHH',68,67,8+240,0)+bytes(240)",
        "ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),1,0,64,17,0,bytes(4),bytes([255]*4))",
        "[ (s.sendto(ip+udp,('v0',0x0800,0,0,b'\\xff'*6)), time.sleep(0.01)) for i in range(50) ]",
      ].join("\n"),
    ]);
    await Promise.all([finished(ping), finished(dhcp)]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await w.stop(), 0, w.stderr);
    const stop = await w.waitFor((l) => l.type === "stop");
    assert.deepEqual(stop.processes, [], "no attempts of theirs");
    assert.deepEqual(w.lines.filter((l) => l.type === "verdict"), []);
  });
});
