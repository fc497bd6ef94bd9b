import { test } from "node:test";
import assert from "node:assert/strict";
import { HalfOpenMonitor, type MonitorOutput, isOutput } from "./monitor.js";
import { ScanVerdictDetector } from "./scan-detector.js";
import type { ConnectionEvent } from "./events.js";
import type { IncidentReport } from "./incident.js";
import { burst, closed, connect, established, proc, sock } from "../../test/support/events.js";

function run(m: HalfOpenMonitor, events: ConnectionEvent[], tickEveryMs = 100): MonitorOutput[] {
  const out: MonitorOutput[] = [];
  let nextTick = 0;
  for (const e of events) {
    while (nextTick <= e.time) {
      out.push(...m.tick(nextTick));
      nextTick += tickEveryMs;
    }
    out.push(...m.handle(e));
  }
  return out;
}

function incidents(out: MonitorOutput[]): IncidentReport[] {
  return out.flatMap((o) => (isOutput(o, "incident") ? [o.incident] : []));
}

test("50 half-open attempts of one process make exactly one incident naming it", () => {
  const m = new HalfOpenMonitor({ limit: 10, quietMs: 1000 });
  const p = proc(4242, "scan");
  const events = burst(0, p, 50);
  const out = run(m, events);
  const opened = out.filter((o) => o.type === "incident-open");
  assert.equal(opened.length, 1);
  const open = (opened[0] as { incident: IncidentReport }).incident;
  assert.equal(open.trigger.pid, 4242);
  assert.equal(open.trigger.attemptId, 11, "the 11th attempt crosses limit 10");
  assert.equal(open.attempts, 11);
  // close them all, then wait out the quiet period
  const ends = events.map((e, i) => closed(100 + i, e.sock, true));
  const rest = run(m, ends).concat(m.tick(100 + 49 + 1000));
  const done = incidents(rest);
  assert.equal(done.length, 1);
  const i = done[0] as IncidentReport;
  assert.equal(i.id, 1);
  assert.equal(i.peak, 50);
  assert.equal(i.attempts, 50);
  assert.equal(i.outcomes.timeout, 50);
  assert.equal(i.closedBy, "quiet");
  assert.equal(i.processes.length, 1);
  assert.equal(i.processes[0]?.pid, 4242);
  assert.equal(i.processes[0]?.name, "scan");
  assert.equal(i.processes[0]?.peakHalfOpen, 50);
  assert.equal(i.distinctDestinations, 50);
  assert.equal(i.distinctHosts, 1);
});

test("5 attempts stay under the limit: no incident", () => {
  const m = new HalfOpenMonitor({ limit: 10 });
  const out = run(m, burst(0, proc(1), 5));
  assert.equal(out.length, 0);
  assert.equal(m.tracker.halfOpen, 5);
  assert.equal(m.totals().incidents, 0);
});

test("exactly limit attempts do not open an incident; limit + 1 does", () => {
  const m = new HalfOpenMonitor({ limit: 3 });
  assert.equal(run(m, burst(0, proc(1), 3)).length, 0);
  assert.equal(run(m, burst(10, proc(1), 1)).filter((o) => o.type === "incident-open").length, 1);
});

test("the incident stays open while above the limit and closes only after the quiet period", () => {
  const m = new HalfOpenMonitor({ limit: 2, quietMs: 500 });
  const ev = burst(0, proc(1), 3);
  run(m, ev);
  // drop to the limit at t=100: the quiet period starts
  m.handle(closed(100, (ev[0] as { sock: string }).sock, true));
  assert.deepEqual(m.tick(599), []);
  // back above at t=300 cancels the quiet period
  m.handle(connect(300, proc(1)));
  assert.deepEqual(m.tick(900), []);
  m.handle(closed(1000, (ev[1] as { sock: string }).sock, true));
  assert.deepEqual(m.tick(1499), []);
  const out = m.tick(1500);
  assert.equal(out.length, 1);
  const i = (out[0] as { incident: IncidentReport }).incident;
  assert.equal(i.attempts, 4);
  assert.equal(i.durationMs, 1500 - 2);
});

test("a process that exited before the incident closed is still named, marked exited", () => {
  const m = new HalfOpenMonitor({ limit: 10, quietMs: 100 });
  const p = proc(77, "worm", { exe: "/tmp/worm", cmdline: ["/tmp/worm", "--spread"] });
  const ev = burst(0, p, 20);
  run(m, ev);
  m.handle({ type: "exit", time: 30, pid: 77, name: "worm" });
  for (const [i, e] of ev.entries()) m.handle(closed(31 + i, e.sock, false));
  const out = m.tick(1000);
  const i = incidents(out)[0] as IncidentReport;
  const named = i.processes[0];
  assert.equal(named?.pid, 77);
  assert.equal(named?.name, "worm");
  assert.deepEqual(named?.cmdline, ["/tmp/worm", "--spread"]);
  assert.equal(named?.exited, true);
  assert.equal(named?.exitedAt, 30);
  assert.equal(named?.outcomes.aborted, 20);
});

test("two processes sharing one burst are both named with their own counts", () => {
  const m = new HalfOpenMonitor({ limit: 10 });
  const a = proc(1, "a");
  const b = proc(2, "b");
  const events: ConnectionEvent[] = [];
  for (let i = 0; i < 30; i++) events.push(connect(i, i % 3 === 0 ? b : a));
  run(m, events);
  const i = m.flush(100).flatMap((o) => (isOutput(o, "incident") ? [o.incident] : []))[0] as IncidentReport;
  assert.equal(i.closedBy, "shutdown");
  const byPid = new Map(i.processes.map((p) => [p.pid, p]));
  assert.equal(byPid.get(1)?.attempts, 20);
  assert.equal(byPid.get(2)?.attempts, 10);
  assert.equal(byPid.get(1)?.peakHalfOpen, 20);
  assert.equal(byPid.get(2)?.peakHalfOpen, 10);
  assert.equal(i.attempts, 30);
  assert.equal(i.peak, 30);
});

test("interleaved processes: attempts that complete quickly never count toward the limit", () => {
  const m = new HalfOpenMonitor({ limit: 5 });
  const events: ConnectionEvent[] = [];
  for (let i = 0; i < 100; i++) {
    const s = sock();
    events.push(connect(i * 2, proc(1 + (i % 4)), s), established(i * 2 + 1, s));
  }
  assert.equal(run(m, events).length, 0);
  const t = m.totals();
  assert.equal(t.attempts, 100);
  assert.equal(t.outcomes.established, 100);
  assert.deepEqual(
    t.processes.map((p) => p.attempts),
    [25, 25, 25, 25],
  );
});

test("pid reuse: two processes with one pid are listed apart", () => {
  const m = new HalfOpenMonitor({ limit: 3 });
  const old = proc(500, "old", { startTime: 1 });
  const neu = proc(500, "new", { startTime: 2 });
  run(m, [...burst(0, old, 2), { type: "exit", time: 5, pid: 500, name: "old" }, ...burst(10, neu, 3)]);
  const i = m.flush(50).flatMap((o) => (isOutput(o, "incident") ? [o.incident] : []))[0] as IncidentReport;
  assert.deepEqual(i.processes.map((p) => [p.name, p.attempts, p.exited]).sort(), [
    ["new", 3, false],
    ["old", 2, true],
  ]);
});

test("missing end events: attempts expire as unknown and let the incident close", () => {
  const m = new HalfOpenMonitor({ limit: 2, quietMs: 100, maxAgeMs: 1000 });
  run(m, burst(0, proc(1), 5));
  assert.deepEqual(m.tick(900), []);
  const out = m.tick(1200);
  assert.equal(m.tracker.halfOpen, 0);
  assert.deepEqual(out, [], "quiet period starts at expiry");
  const i = incidents(m.tick(1300))[0] as IncidentReport;
  assert.equal(i.outcomes.unknown, 5);
});

test("clock edges: events with equal or out-of-order times are handled", () => {
  const m = new HalfOpenMonitor({ limit: 1, quietMs: 0 });
  const s1 = sock();
  const s2 = sock();
  m.handle(connect(100, proc(1), s1));
  const out = m.handle(connect(100, proc(1), s2));
  assert.equal(out[0]?.type, "incident-open");
  m.handle(closed(99.5, s1, true)); // a slightly earlier stamp from another CPU
  const closedOut = m.tick(100);
  assert.equal(incidents(closedOut).length, 1);
  const i = incidents(closedOut)[0] as IncidentReport;
  assert.deepEqual([i.startedAt, i.endedAt, i.durationMs], [100, 100, 0], "the earlier end stamp does not make the duration negative");
});

test("the filter keeps other processes out of the count", () => {
  const m = new HalfOpenMonitor({ limit: 5, filter: (p) => p.name === "target" });
  assert.equal(run(m, burst(0, proc(1, "other"), 50)).length, 0);
  assert.equal(run(m, burst(100, proc(2, "target"), 6)).filter((o) => o.type === "incident-open").length, 1);
  assert.equal(m.totals().attempts, 6);
});

test("lost events are reported and charged to the open incident", () => {
  const m = new HalfOpenMonitor({ limit: 1 });
  run(m, burst(0, proc(1), 2));
  const out = m.handle({ type: "lost", time: 5, count: 42, cpu: 1 });
  assert.deepEqual(out, [{ type: "lost", time: 5, count: 42, cpu: 1 }]);
  const i = incidents(m.flush(10))[0] as IncidentReport;
  assert.equal(i.lostEvents, 42);
  assert.equal(m.totals().lostEvents, 42);
});

test("incident memory is bounded: processes and destinations are capped", () => {
  const m = new HalfOpenMonitor({ limit: 0, incidentBounds: { maxProcesses: 3, samplesPerProcess: 2, maxDestinations: 10 } });
  const events: ConnectionEvent[] = [];
  for (let i = 0; i < 100; i++) events.push(connect(i, proc(i % 5), sock(), { address: "198.18.0.1", port: 10_000 + i }));
  run(m, events);
  const i = incidents(m.flush(200))[0] as IncidentReport;
  assert.equal(i.processes.length, 3);
  assert.equal(i.otherProcesses, 2);
  assert.ok(i.processes.every((p) => p.sample.length === 2));
  assert.equal(i.distinctDestinations, 10);
  assert.equal(i.destinationsCapped, true);
  assert.equal(i.attempts, 100);
});

test("a summary covers the period asked for; reading it resets nothing, so two readers get the same numbers", () => {
  const m = new HalfOpenMonitor({ limit: 100 });
  const ev = burst(0, proc(3, "x"), 4);
  run(m, ev);
  m.handle(established(5, (ev[0] as { sock: string }).sock));
  m.tick(10);
  const s = m.summary(10);
  assert.equal(s.attempts, 4);
  assert.equal(s.outcomes.established, 1);
  assert.equal(s.halfOpen, 3);
  assert.equal(s.maxHalfOpen, 4);
  assert.deepEqual(s.top, { pid: 3, name: "x", halfOpen: 3 });
  assert.deepEqual(m.summary(10), s, "a second reader of the same period gets the same numbers");
  m.handle(connect(12, proc(3, "x")));
  m.tick(20);
  const s2 = m.summary(20, 10);
  assert.deepEqual([s2.attempts, s2.maxHalfOpen, s2.periodMs], [1, 4, 10], "the period (10, 20]: one new attempt, 4 half-open at most");
  assert.deepEqual([m.summary(20).attempts, m.summary(20, 10).attempts], [5, 1], "the whole run and the period, asked in any order");
});

test("blind time is reported, charged to the open incident and to the totals", () => {
  const m = new HalfOpenMonitor({ limit: 1 });
  run(m, burst(0, proc(1), 2));
  const out = m.handle({ type: "blind", time: 5, since: 1, durationMs: 4, reason: "tracing_on was set to 0" });
  assert.deepEqual(out, [{ type: "blind", time: 5, since: 1, durationMs: 4, reason: "tracing_on was set to 0" }]);
  const i = incidents(m.flush(10))[0] as IncidentReport;
  assert.equal(i.blindMs, 4);
  assert.equal(m.totals().blindMs, 4);
});

test("an incident keeps whole command lines up to its text budget; later processes keep a short one, marked", () => {
  const m = new HalfOpenMonitor({ limit: 0 });
  const long = ["node", "x".repeat(4000)];
  const events: ConnectionEvent[] = [];
  for (let i = 0; i < 40; i++) events.push(connect(i, proc(100 + i, "w", { cmdline: long, truncated: ["cmdline"] })));
  run(m, events);
  const i = incidents(m.flush(100))[0] as IncidentReport;
  assert.equal(i.processes.length, 40);
  const whole = i.processes.filter((p) => p.cmdline?.[1]?.length === 4000).length;
  assert.equal(whole, 16, "16 x 4005 bytes fit 64 KiB");
  for (const p of i.processes) {
    assert.ok(Buffer.byteLength((p.cmdline ?? []).join("\0")) <= 4096);
    assert.deepEqual(p.truncated, ["cmdline"]);
  }
  assert.ok(JSON.stringify(i).length < 100_000, `bounded report: ${JSON.stringify(i).length} bytes`);
});

test("attempts seen at start open one incident holding all of them, at the next tick", () => {
  const m = new HalfOpenMonitor({ limit: 10 });
  const p = proc(7, "worm");
  const out: MonitorOutput[] = [];
  for (let i = 0; i < 30; i++) out.push(...m.handle({ ...connect(100, p), seenAtStart: true }));
  assert.deepEqual(out, [], "no incident while the start batch is fed");
  const opened = m.tick(100);
  assert.equal(opened.length, 1);
  const i = (opened[0] as { incident: IncidentReport }).incident;
  assert.equal(i.attempts, 30);
  assert.equal(i.processes[0]?.attempts, 30);
  assert.equal(i.trigger.attemptId, 11, "the (limit+1)-th is the trigger");
  assert.ok(i.processes[0]?.sample.every((a) => a.seenAtStart === true));
  assert.deepEqual(m.tick(200), [], "opened once");
});

test("quiet: only while nothing waits on time (no attempt half-open, no incident open, no verdict deadline)", () => {
  const verdicts = new ScanVerdictDetector();
  const m = new HalfOpenMonitor({ limit: 2, quietMs: 100, detectors: [verdicts] });
  assert.equal(m.quiet, true, "nothing yet");
  const p = proc(10);
  const a = sock();
  m.handle(connect(0, p, a));
  assert.equal(m.quiet, false, "an attempt half-open can expire");
  m.handle(established(5, a));
  // Its outcome is in, but the first contact's place in the verdict's order waits for older ones: none here.
  assert.equal(m.quiet, true, "answered: nothing waits");
  const b = sock();
  m.handle(connect(10, p, b, { address: "198.18.0.2", port: 9 }));
  m.handle(closed(20, b, false));
  assert.equal(m.quiet, true, "given up by the program: its outcome is in, nothing waits");
  const flood = burst(2000, proc(11), 3);
  for (const e of flood) m.handle(e);
  for (const e of flood) m.handle(established(2001, e.sock));
  assert.equal(m.quiet, false, "an incident is open until its quiet time passes");
  m.tick(2200);
  m.tick(4000);
  assert.equal(m.quiet, true, "closed");
  // A detector that ticks but cannot say it is quiet keeps the monitor from resting.
  const busy = new HalfOpenMonitor({ limit: 2, detectors: [{ name: "x", tick: () => [] }] });
  assert.equal(busy.quiet, false);
  let waiting = true;
  const d = new HalfOpenMonitor({ limit: 2, detectors: [{ name: "y", tick: () => [], quiet: () => !waiting }] });
  assert.equal(d.quiet, false, "a detector with a deadline");
  waiting = false;
  assert.equal(d.quiet, true);
});

test("an incident counts each process's distinct destinations, whatever the order of the processes and destinations", () => {
  // Two processes in turn, over destinations they share in part: each one's count is its own (the hot path skips
  // a lookup when a destination was last counted for the same process).
  const m = new HalfOpenMonitor({ limit: 2, quietMs: 1000 });
  const a = proc(10, "a");
  const b = proc(20, "b");
  const dst = (port: number) => ({ address: "198.18.0.9", port });
  const events: ConnectionEvent[] = [];
  const seen = new Map<number, Set<number>>([
    [10, new Set()],
    [20, new Set()],
  ]);
  for (let i = 0; i < 60; i++) {
    const p = i % 3 === 0 ? b : a;
    const port = p === a ? i % 7 : (i * 5) % 11;
    seen.get(p.pid)?.add(port);
    events.push(connect(i, p, sock(), dst(port)));
  }
  const out = run(m, events).concat(m.flush(100));
  const last = incidents(out).at(-1) as IncidentReport;
  assert.equal(last.attempts, 60, "every attempt: all are still pending");
  for (const p of last.processes) assert.equal(p.distinctDestinations, seen.get(p.pid)?.size, `process ${p.pid}`);
  assert.equal(last.distinctDestinations, new Set([...(seen.get(10) ?? []), ...(seen.get(20) ?? [])]).size);
});

test("run totals follow each process across floods of others and its exit", () => {
  const m = new HalfOpenMonitor({ limit: 1000 });
  const a = proc(10, "a");
  const b = proc(20, "b");
  const events: ConnectionEvent[] = [];
  for (let i = 0; i < 5; i++) events.push(connect(i, a));
  events.push(connect(5, b), connect(6, b));
  events.push({ type: "exit", time: 7, pid: 10, name: "a" });
  events.push(connect(8, b));
  // A thread of a left behind by its leader connects once more, then goes too: its exit is the one kept.
  events.push(connect(9, a), { type: "exit", time: 10, pid: 10, name: "a" });
  events.push(connect(11, a), { type: "exit", time: 12, pid: 10, name: "a" });
  const ends = events.flatMap((e) => (e.type === "connect" ? [closed(20 + e.time, e.sock, true)] : []));
  run(m, [...events, ...ends]);
  const rows = new Map(m.totals().processes.map((p) => [p.pid, p]));
  assert.equal(rows.get(10)?.attempts, 7);
  assert.equal(rows.get(10)?.outcomes.timeout, 7);
  assert.equal(rows.get(10)?.exitedAt, 12);
  assert.equal(rows.get(20)?.attempts, 3);
  assert.equal(rows.get(20)?.outcomes.timeout, 3);
  assert.equal(rows.get(20)?.exitedAt, undefined);
});

test("summaries of long periods stay exact under a flood that ticks the clock a hundred times a second", () => {
  // watch --interval 300 under a flood: a summary every 5 minutes, a batch tick every 10 ms in between.
  const m = new HalfOpenMonitor({ limit: 1_000_000 });
  const p = proc(7, "flood");
  let made = 0;
  let since: number | undefined;
  const counts: number[] = [];
  for (let t = 0; t < 15 * 60_000; t += 10) {
    const s = sock();
    m.handle(connect(t, p, s));
    m.handle(closed(t + 5, s, false));
    made++;
    m.tick(t + 5);
    if ((t + 10) % 300_000 === 0) {
      const now = t + 5;
      m.tick(now);
      counts.push(m.summary(now, since).attempts);
      since = now;
    }
  }
  assert.equal(made, 90_000);
  assert.deepEqual(counts, [30_000, 30_000, 30_000]);
});
