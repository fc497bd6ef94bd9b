import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closed, connect, established, proc, sock } from "../../test/support/events.js";
import type { ConnectionEvent } from "./events.js";
import { HalfOpenMonitor, isOutput, type MonitorOutput } from "./monitor.js";
import { ScanVerdictDetector, type ScanVerdictOptions, type VerdictFinding, trustList } from "./scan-detector.js";

/** A monitor with a scan detector; `feed` returns the verdict findings of the events (ticking after each). */
function setup(options: ScanVerdictOptions = {}) {
  const detector = new ScanVerdictDetector(options);
  const monitor = new HalfOpenMonitor({ limit: 1000, detectors: [detector] });
  const verdicts: VerdictFinding[] = [];
  const all: MonitorOutput[] = [];
  const take = (outs: readonly MonitorOutput[]) => {
    for (const o of outs) {
      all.push(o);
      if (isOutput(o, "verdict")) verdicts.push(o);
    }
  };
  return {
    detector,
    monitor,
    verdicts,
    all,
    feed(events: ConnectionEvent[]) {
      for (const e of events) {
        take(monitor.handle(e));
        take(monitor.tick(e.time));
      }
    },
    tick(now: number) {
      take(monitor.tick(now));
    },
  };
}

const host = (i: number) => ({ address: `198.18.${i >> 8}.${i & 255}`, port: 445 });

/** A connect to `dst` at `time` that is refused 1 ms later. */
function refused(time: number, pid: number, dst: { address: string; port: number }): ConnectionEvent[] {
  const s = sock();
  return [connect(time, proc(pid), s, dst), { type: "reset", time: time + 1, sock: s }, closed(time + 1, s, true)];
}

/** A connect that is answered 1 ms later. */
function answered(time: number, pid: number, dst: { address: string; port: number }): ConnectionEvent[] {
  const s = sock();
  return [connect(time, proc(pid), s, dst), established(time + 1, s)];
}

describe("ScanVerdictDetector", () => {
  it("four refused first contacts to distinct hosts: a scanner, by TRW, after 4 first contacts", () => {
    const t = setup();
    t.feed([0, 10, 20, 30].flatMap((time, i) => refused(time, 7, host(i))));
    assert.equal(t.verdicts.length, 1);
    const v = t.verdicts[0]!;
    assert.deepEqual([v.verdict, v.test, v.firstContacts, v.pid, v.trusted], ["scanner", "trw", 4, 7, false]);
    assert.equal(v.time, 31, "reached at the fourth refusal");
    assert.equal(v.evidence.firstContactFailures, 4);
    assert.equal(v.evidence.distinctHosts, 4);
    assert.equal(v.evidence.failureRatio, 1);
    assert.equal(t.detector.counts().scanner, 1);
  });

  it("unanswered first contacts fail at their first SYN retransmission, or after noAnswerMs without one", () => {
    const t = setup();
    const socks = [0, 1, 2, 3].map(() => sock());
    t.feed(socks.map((s, i) => connect(i, proc(8), s, host(i))));
    t.feed([{ type: "retransmit", time: 900, sock: socks[0]! }]);
    t.tick(999);
    assert.equal(t.verdicts.length, 0, "one failure so far (the retransmission)");
    t.tick(1003);
    assert.equal(t.verdicts.length, 1, "the other three are due at 1001, 1002, 1003");
    assert.equal(t.verdicts[0]!.time, 1003);
    assert.equal(t.verdicts[0]!.evidence.secondsToVerdict, 1.003);
  });

  it("successes pull the walk back: F F F S F F flags at the sixth first contact", () => {
    const t = setup();
    const events = [false, false, false, true, false, false].flatMap((ok, i) => (ok ? answered(i * 10, 9, host(i)) : refused(i * 10, 9, host(i))));
    t.feed(events);
    assert.equal(t.verdicts.length, 1);
    assert.equal(t.verdicts[0]!.firstContacts, 6);
  });

  it("a health checker polling 20 services, one down, is benign: retries of the down one are not first contacts", () => {
    const t = setup();
    const services = Array.from({ length: 20 }, (_, i) => ({ address: "198.18.0.1", port: 8000 + i }));
    const events: ConnectionEvent[] = [];
    for (let round = 0; round < 60; round++) {
      services.forEach((dst, i) => events.push(...(i === 0 ? refused(round * 1000 + i, 10, dst) : answered(round * 1000 + i, 10, dst))));
    }
    t.feed(events);
    assert.deepEqual(
      t.verdicts.map((v) => [v.verdict, v.firstContacts]),
      [["benign", 6]],
      "one failure then five successes reach the benign threshold (4 x 4^-5 <= 0.0101); 59 more refusals of the same service change nothing",
    );
    assert.equal(t.detector.verdictOf(t.verdicts[0]!.processKey)?.verdict, "benign");
    assert.equal(t.verdicts[0]!.evidence.firstContacts, 6);
  });

  it("the reverse test flags a process that behaved for an hour and then starts scanning; TRW had called it benign", () => {
    const t = setup();
    const events: ConnectionEvent[] = [];
    for (let s = 0; s < 3600; s++) events.push(...answered(s * 1000, 11, { address: "198.18.1.1", port: 10_000 + s }));
    for (let i = 0; i < 10; i++) events.push(...refused(3_600_000 + i * 100, 11, host(1000 + i)));
    t.feed(events);
    assert.deepEqual(
      t.verdicts.map((v) => [v.verdict, v.test]),
      [
        ["benign", "trw"],
        ["scanner", "reverse-sht"],
      ],
    );
    const scan = t.verdicts[1]!;
    assert.equal(scan.time, 3_600_000 + 6 * 100 + 1, "the seventh refusal of the scan");
    assert.equal(scan.firstContacts, 3607);
  });

  it("outcomes count in the order the first contacts started: a P2P client's late failures do not arrive as one run", () => {
    const t = setup();
    // 50 peers contacted at once, every third one dead: the live ones answer within 1 ms, the dead ones never.
    const events: ConnectionEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const s = sock();
      events.push(connect(i, proc(15, "p2p"), s, { address: `198.18.3.${i + 1}`, port: 6881 }));
      if (i % 3 !== 1) events.push(established(i + 1, s));
    }
    t.feed(events.sort((a, b) => a.time - b.time));
    t.tick(5000);
    // In the order they became known, the 16 failures (due at 1001..1049) would follow all 34 successes: a run the reverse test flags.
    assert.deepEqual(
      t.verdicts.map((v) => [v.verdict, v.test]),
      [["benign", "trw"]],
    );
    assert.equal(t.verdicts[0]!.firstContacts, 10, "S F S S F S S F S S: the ratio reaches 4^-4 at the tenth peer");
    assert.equal(t.verdicts[0]!.time, 1007, "the tenth peer's answer (at 10 ms) waited for the eighth peer's deadline");
  });

  it("a trusted program is still judged, marked trusted, and not counted as an alert", () => {
    const t = setup({ trusted: (p) => p.name === "p2p" });
    t.feed([0, 1, 2, 3].flatMap((time, i) => refused(time, 12, host(i)).map((e) => (e.type === "connect" ? { ...e, process: proc(12, "p2p") } : e))));
    assert.equal(t.verdicts[0]?.trusted, true);
    assert.deepEqual(t.detector.counts(), { scanner: 0, benign: 0, trustedScanner: 1 });
  });

  it("destinations by host: a vertical scan of one host is one first contact", () => {
    const byHost = setup({ firstContactBy: "host" });
    const byService = setup();
    const events = Array.from({ length: 10 }, (_, i) => refused(i, 13, { address: "198.18.0.1", port: 10_000 + i })).flat();
    byHost.feed(events);
    byService.feed(events);
    assert.equal(byHost.verdicts.length, 0);
    assert.equal(byService.verdicts[0]?.verdict, "scanner");
  });

  it("incidents name each process's verdict", () => {
    const detector = new ScanVerdictDetector();
    const monitor = new HalfOpenMonitor({ limit: 3, quietMs: 100, detectors: [detector] });
    const out: MonitorOutput[] = [];
    const socks = Array.from({ length: 6 }, () => sock());
    socks.forEach((s, i) => out.push(...monitor.handle(connect(i, proc(14, "worm"), s, host(i)))));
    out.push(...monitor.tick(2000));
    for (const s of socks) out.push(...monitor.handle(closed(2500, s, false)));
    out.push(...monitor.tick(5000));
    const closedIncident = out.find((o) => isOutput(o, "incident"));
    assert.ok(closedIncident && isOutput(closedIncident, "incident"));
    assert.deepEqual(closedIncident.incident.processes[0]?.verdict, { verdict: "scanner", test: "trw", firstContacts: 4 });
  });

  it("a browser whose page names 30 dead hosts and 10 live ones is not a scanner: addresses a DNS answer just gave are no observation; the same contacts to literal addresses are", () => {
    const page = (t: ReturnType<typeof setup>, named: boolean) => {
      const events: ConnectionEvent[] = [];
      for (let i = 0; i < 40; i++) {
        const dst = host(1000 + i);
        if (named) events.push({ type: "dns", time: 0, address: dst.address, name: `${i < 30 ? "dead" : "live"}${i}.lab.test`, ttl: 60 });
        // Dead hosts are unanswered (due after noAnswerMs); live ones answer.
        if (i < 30) events.push(connect(1 + i, proc(9), sock(), dst));
        else events.push(...answered(1 + i, 9, dst));
      }
      t.feed(events);
      t.tick(5000);
    };
    const withNames = setup();
    page(withNames, true);
    assert.deepEqual(withNames.verdicts, [], "not judged a scanner");
    const row = withNames.monitor.tracker.pending().next().value;
    assert.match(row?.dstName ?? "", /^dead\d+\.lab\.test$/, "the attempt carries the name");
    const literal = setup();
    page(literal, false);
    assert.equal(literal.verdicts[0]?.verdict, "scanner", "by literal address: today's test still flags it");
    const observe = setup({ resolved: "observe" });
    page(observe, true);
    assert.equal(observe.verdicts[0]?.verdict, "scanner", "the plain TRW (resolved: observe) flags the browser: the anchor");
  });

  it("a scanner that mixes looked-up and literal addresses is still judged on the literal ones, and the evidence counts both", () => {
    const t = setup();
    const events: ConnectionEvent[] = [];
    for (let i = 0; i < 4; i++) {
      events.push({ type: "dns", time: 0, address: host(2000 + i).address, name: `n${i}.lab.test`, ttl: 60 });
      events.push(...refused(10 + i * 10, 11, host(2000 + i)));
      events.push(...refused(15 + i * 10, 11, host(3000 + i)));
    }
    t.feed(events);
    assert.equal(t.verdicts[0]?.verdict, "scanner");
    assert.deepEqual([t.verdicts[0]?.firstContacts, t.verdicts[0]?.evidence.resolvedFirstContacts], [4, 4]);
  });

  it("an answer names its address for the processes of its own network namespace only", () => {
    const t = setup();
    const dst = host(4000);
    t.feed([{ type: "dns", time: 0, address: dst.address, name: "svc.lab.test", ttl: 60, netns: 111 }]);
    t.feed([connect(1, proc(21, "in-111", { netns: 111 }), sock(), dst), connect(2, proc(22, "in-222", { netns: 222 }), sock(), dst)]);
    const names = [...t.monitor.tracker.pending()].map((a) => [a.process.pid, a.dstName]);
    assert.deepEqual(names, [[21, "svc.lab.test"], [22, undefined]]);
  });
});

it("--trust: a process name, an executable path or a systemd unit", () => {
  const t = trustList(["backup.service", "/usr/bin/rsync", "nmap"]);
  assert.ok(t?.({ pid: 1, name: "restic", unit: "backup.service" }));
  assert.ok(t?.({ pid: 2, name: "x", exe: "/usr/bin/rsync" }));
  assert.ok(t?.({ pid: 3, name: "nmap" }));
  assert.equal(t?.({ pid: 4, name: "curl", unit: "other.service", exe: "/usr/bin/curl" }), false);
  assert.equal(trustList([]), undefined);
});
