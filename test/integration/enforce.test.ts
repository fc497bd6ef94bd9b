/**
 * `watch --enforce` in a test-made two-namespace lab (raw-lab.ts; root, in
 * CI): the enforced side is the scanner namespace; in the target namespace a
 * slow peer (slow-refuser.py) sees every SYN to ports 10000-19999 before its
 * input chain drops it and refuses it with a RST exactly DELAY later, so every
 * attempt stays half-open DELAY seconds on the wire and a slot frees DELAY
 * after its SYN left. The far side's log of first SYNs is the truth: how many
 * arrived, and how many were in flight at once. A live listener on port 80
 * answers the probes. Under CI a missing tool fails.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, afterEach, test } from "node:test";
import { describeRawLab, type RawLab, TARGET_ADDRESS } from "./raw-lab.js";
import { REPO, WatchProcess } from "./watch-process.js";
import type { EnforceStop } from "../../src/core/enforce/enforcer.js";

const FLOOD = join(REPO, "test/integration/enforce-flood.mjs");
const REFUSER = join(REPO, "test/integration/slow-refuser.py");
const dir = mkdtempSync(join(tmpdir(), "halfopen-enforce-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface FloodAttempt {
  port: number;
  startMs: number;
  endMs: number;
  outcome: string;
}

/** One JSON line child in a namespace: its first line, and a promise of its last. */
function jsonChild(ns: string, argv: string[]): { child: ChildProcess; first: Promise<Record<string, unknown>>; done: Promise<Record<string, unknown>> } {
  const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: Record<string, unknown>[] = [];
  let firstResolve: (v: Record<string, unknown>) => void = () => {};
  const first = new Promise<Record<string, unknown>>((r) => (firstResolve = r));
  const rl = createInterface({ input: child.stdout! });
  rl.on("line", (l) => {
    const v = (l.trim() === "ready" ? { ready: true } : JSON.parse(l)) as Record<string, unknown>;
    if (lines.push(v) === 1) firstResolve(v);
  });
  const done = once(child, "exit").then(() => lines[lines.length - 1] ?? {});
  return { child, first, done };
}

/** Most first SYNs in flight at once at the far end: each is in flight from its arrival until its RST, `delayS` later. */
function maxInFlight(arrivals: number[], delayS: number): number {
  const ts = [...arrivals].sort((a, b) => a - b);
  let max = 0;
  let lo = 0;
  for (let hi = 0; hi < ts.length; hi++) {
    // 1 ms of slack: a RST and the SYN it makes room for can be stamped within the same millisecond.
    while ((ts[lo] as number) <= (ts[hi] as number) - delayS + 0.001) lo++;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}

const ports = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describeRawLab("watch --enforce: the XP limit, queued not dropped (iptables NFQUEUE, a slow peer in a lab)", { file: "integration/enforce", prefix: "hoenf", needs: ["iptables", "ip6tables", "python3", "nsenter"] }, (lab: RawLab) => {
  const children: ChildProcess[] = [];
  const watches = new Set<WatchProcess>();
  afterEach(async () => {
    for (const w of watches) await w.stop("SIGKILL");
    watches.clear();
    for (const c of children.splice(0)) c.kill("SIGKILL");
    // A test that killed a watch on purpose may leave the rules: never let them reach the next test.
    for (const tool of ["iptables", "ip6tables"]) {
      try {
        execFileSync("ip", ["netns", "exec", lab.scanner, "sh", "-c", `${tool} -t mangle -D OUTPUT -j HALFOPEN_ENFORCE; ${tool} -t mangle -F HALFOPEN_ENFORCE; ${tool} -t mangle -X HALFOPEN_ENFORCE`], { stdio: "ignore" });
      } catch {
        // not there
      }
    }
  });

  async function refuser(delayS: number) {
    const out = join(dir, `syns-${Date.now()}.jsonl`);
    const r = jsonChild(lab.target, ["python3", REFUSER, "v1", String(delayS), "10000", "19999", out]);
    children.push(r.child);
    await r.first;
    return {
      /** Stop it; the far side's first SYNs (monotonic seconds). */
      async arrivals(): Promise<number[]> {
        r.child.kill("SIGTERM");
        await r.done;
        return readFileSync(out, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as [number])[0]);
      },
    };
  }

  function listener() {
    const server = jsonChild(lab.target, [process.execPath, "-e", `require("net").createServer((c)=>c.end()).listen(80,"${TARGET_ADDRESS}",()=>console.log(JSON.stringify({ready:true})))`]);
    children.push(server.child);
    return server.first;
  }

  async function watch(args: string[]) {
    const w = new WatchProcess(["--interval", "0", "--netns", lab.scanner, "--no-store", "--no-dns", ...args]);
    watches.add(w);
    await w.waitFor((l) => l.type === "start");
    return w;
  }

  function flood(spec: { title: string; batches: { ports: number[]; atMs?: number }[]; timeoutMs?: number }) {
    const f = jsonChild(lab.scanner, [process.execPath, FLOOD, JSON.stringify({ host: TARGET_ADDRESS, timeoutMs: 60_000, ...spec })]);
    children.push(f.child);
    return f;
  }

  async function stopped(w: WatchProcess) {
    assert.equal(await w.stop(), 0, w.stderr);
    watches.delete(w);
    return (await w.waitFor((l) => l.type === "stop")) as unknown as { enforce: EnforceStop };
  }

  const chains = () => execFileSync("ip", ["netns", "exec", lab.scanner, "iptables", "-t", "mangle", "-S"], { encoding: "utf8" });

  test("--enforce 10 --release slot: 100 attempts to a peer that answers after 2 s take 100/10 x 2 s; the far side never has more than 10 first SYNs in flight and gets all 100; a trusted program's connect goes at once, an untrusted one waits its turn and succeeds", async () => {
    await listener();
    const peer = await refuser(2);
    const w = await watch(["--enforce", "10", "--trust", "ho-trusted"]);
    const start = w.lines.find((l) => l.type === "start") as { enforce?: { limit: number; per: string; release: string; steering: string } };
    assert.equal(start.enforce?.limit, 10);
    assert.equal(start.enforce?.release, "slot");
    assert.match(chains(), /-A OUTPUT -j HALFOPEN_ENFORCE/, "our chain is jumped to while we run");
    const f = flood({ title: "ho-flood", batches: [{ ports: ports(10000, 100) }] });
    const { pid } = (await f.first) as { pid: number };
    // While the flood is held: a trusted program, then an untrusted one, connect to the live host.
    await new Promise((r) => setTimeout(r, 1000));
    const trusted = flood({ title: "ho-trusted", batches: [{ ports: [80] }], timeoutMs: 30_000 });
    const untrusted = flood({ title: "ho-untrusted", batches: [{ ports: [80] }], timeoutMs: 60_000 });
    const tr = ((await trusted.done) as { attempts: FloodAttempt[] }).attempts[0];
    const un = ((await untrusted.done) as { attempts: FloodAttempt[] }).attempts[0];
    const done = (await f.done) as { attempts: FloodAttempt[] };
    const stop = await stopped(w);
    const arrivals = await peer.arrivals();

    assert.equal(tr?.outcome, "connect");
    assert.ok((tr?.endMs ?? 99_999) - (tr?.startMs ?? 0) < 1000, `the trusted connect completed at once (${tr?.endMs} ms)`);
    assert.equal(un?.outcome, "connect", "the untrusted connect to a live host succeeded");
    assert.ok((un?.endMs ?? 0) > 10_000, `after waiting its turn behind the flood (${un?.endMs} ms)`);

    assert.equal(done.attempts.length, 100);
    assert.deepEqual([...new Set(done.attempts.map((a) => a.outcome))], ["ECONNREFUSED"], "every attempt reached the peer and was refused by it: none was lost");
    const total = Math.max(...done.attempts.map((a) => a.endMs));
    assert.ok(Math.abs(total - 20_000) <= 1000, `total ${Math.round(total)} ms, expected 100 / 10 x 2 s = 20000 ms within 5%`);
    assert.equal(arrivals.length, 100, "the far side got the 100 first SYNs (the probes went to port 80, not logged)");
    const most = maxInFlight(arrivals, 2);
    assert.ok(most <= 10, `at most 10 first SYNs in flight at the far side (saw ${most})`);
    assert.ok(most >= 9, `and the limit was used (saw ${most})`);

    assert.ok(stop.enforce.held >= 89, `held ${stop.enforce.held}`);
    const mine = stop.enforce.processes.find((p) => p.pid === pid);
    assert.ok(mine && mine.held >= 89, `the flood's holds are its own: ${JSON.stringify(stop.enforce.processes)}`);
    assert.ok(mine.medianWaitMs > 5000 && mine.medianWaitMs < 15_000, `median wait ${mine.medianWaitMs} ms (the 90 held waited 2 to 18 s)`);
    assert.ok(w.lines.some((l) => l.type === "enforce-hold"), "a hold record like Event 4226");
    assert.doesNotMatch(chains(), /HALFOPEN_ENFORCE/, "the rules are gone after a clean stop");
  });

  test("--release-rate 10: once 10 are in flight, held attempts leave at 10 a second whatever is in flight: 100 attempts take 90/10 s + 2 s", async () => {
    const peer = await refuser(2);
    const w = await watch(["--enforce", "10", "--release-rate", "10"]);
    const f = flood({ title: "ho-rate", batches: [{ ports: ports(10000, 100) }] });
    const done = (await f.done) as { attempts: FloodAttempt[] };
    const stop = await stopped(w);
    const arrivals = (await peer.arrivals()).sort((a, b) => a - b);
    assert.deepEqual([...new Set(done.attempts.map((a) => a.outcome))], ["ECONNREFUSED"]);
    const total = Math.max(...done.attempts.map((a) => a.endMs));
    assert.ok(Math.abs(total - 11_000) <= 550, `total ${Math.round(total)} ms, expected 90 / 10 s + 2 s = 11000 ms within 5%`);
    assert.equal(arrivals.length, 100);
    const spacing = ((arrivals[99] as number) - (arrivals[10] as number)) / 89;
    assert.ok(Math.abs(spacing - 0.1) <= 0.005, `held SYNs reached the far side ${Math.round(spacing * 1000)} ms apart, expected 100`);
    assert.ok(stop.enforce.held >= 89);
  });

  test("SIGKILL under load: the next connect from another process goes within 1 s (bypass); the next start removes the rules it left and says so; a clean stop removes its own", async () => {
    await listener();
    const w = await watch(["--enforce", "2"]);
    const f = flood({ title: "ho-killed", batches: [{ ports: ports(10000, 20) }], timeoutMs: 30_000 });
    await f.first;
    await w.waitFor((l) => l.type === "enforce-hold");
    w.child.kill("SIGKILL");
    await once(w.child, "exit");
    watches.delete(w);
    assert.match(chains(), /HALFOPEN_ENFORCE/, "a SIGKILLed run leaves its rules (nothing runs at SIGKILL)");
    const probe = flood({ title: "ho-after", batches: [{ ports: [80] }], timeoutMs: 5000 });
    const p = ((await probe.done) as { attempts: FloodAttempt[] }).attempts[0];
    assert.equal(p?.outcome, "connect");
    assert.ok((p?.endMs ?? 99_999) < 1000, `connected in ${p?.endMs} ms: with nobody on the queue, bypass lets SYNs by`);
    const again = await watch(["--enforce", "2"]);
    // The note follows the start line.
    await again.waitFor((l) => l.type === "warning" && /removed iptables chain mangle HALFOPEN_ENFORCE, left by an enforcing watch/.test(String(l.message)), 5000);
    await again.waitFor((l) => l.type === "warning" && /removed ip6tables chain mangle HALFOPEN_ENFORCE/.test(String(l.message)), 5000);
    await stopped(again);
    assert.doesNotMatch(chains(), /HALFOPEN_ENFORCE/);
  });

  test("a full queue fails open, counted: --queue-max 20 holds at most 20 and lets the rest go unheld", async () => {
    const peer = await refuser(3);
    const w = await watch(["--enforce", "5", "--queue-max", "20"]);
    const f = flood({ title: "ho-full", batches: [{ ports: ports(10000, 100) }] });
    const done = (await f.done) as { attempts: FloodAttempt[] };
    // The unheld are counted once their SYN is overdue in the queue (1 s); the stop record has them then.
    await new Promise((r) => setTimeout(r, 1500));
    const stop = await stopped(w);
    const arrivals = await peer.arrivals();
    assert.equal(done.attempts.length, 100);
    assert.equal(arrivals.length, 100, "nothing was lost");
    assert.ok(stop.enforce.held <= 20, `held ${stop.enforce.held}: at most the queue's 20`);
    assert.ok(stop.enforce.unqueued >= 70, `unheld (fail-open) ${stop.enforce.unqueued}`);
    assert.ok(stop.enforce.held + stop.enforce.unqueued + 5 >= 97, JSON.stringify(stop.enforce));
  });

  test("--enforce-dry-run holds nothing and reports what it would have held", async () => {
    const peer = await refuser(1);
    const w = await watch(["--enforce", "10", "--enforce-dry-run"]);
    const f = flood({ title: "ho-dry", batches: [{ ports: ports(10000, 100) }] });
    const done = (await f.done) as { attempts: FloodAttempt[] };
    const stop = await stopped(w);
    const arrivals = await peer.arrivals();
    const total = Math.max(...done.attempts.map((a) => a.endMs));
    assert.ok(total < 3000, `nothing waited: ${Math.round(total)} ms`);
    assert.ok(maxInFlight(arrivals, 1) > 10, "the far side saw them all at once");
    assert.ok(stop.enforce.held >= 80, `would have held ${stop.enforce.held}`);
    assert.ok(w.lines.some((l) => l.type === "enforce-hold" && l.dryRun === true));
  });

  test("--contain-scanners: a process judged a scanner gets a limit of 1 of its own; its later attempts go one at a time", async () => {
    const peer = await refuser(0.5);
    const w = await watch(["--enforce", "50", "--contain-scanners"]);
    const f = flood({ title: "ho-worm", batches: [{ ports: ports(10000, 20) }, { ports: ports(11000, 10), atMs: 3000 }] });
    const { pid } = (await f.first) as { pid: number };
    const done = (await f.done) as { attempts: FloodAttempt[] };
    const stop = await stopped(w);
    const arrivals = await peer.arrivals();
    assert.ok(w.lines.some((l) => l.type === "verdict" && l.pid === pid && l.verdict === "scanner"), "judged a scanner");
    assert.ok(w.lines.some((l) => l.type === "contained" && l.pid === pid && l.limit === 1), "and contained");
    const second = done.attempts.filter((a) => a.port >= 11000);
    const span = Math.max(...second.map((a) => a.endMs)) - 3000;
    assert.ok(span >= 4750, `the 10 later attempts went one at a time: ${Math.round(span)} ms, expected at least 10 x 0.5 s`);
    assert.equal(maxInFlight(arrivals.slice(20), 0.5), 1, "one in flight at the far side");
    const mine = stop.enforce.processes.find((p) => p.pid === pid);
    assert.deepEqual(mine?.contained, { limit: 1 });
  });
});
