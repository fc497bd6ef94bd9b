import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { jsonRecords } from "../cli/watch/records.js";
import type { ConnectionEvent, ProcessInfo } from "../core/events.js";
import { HalfOpenMonitor, type MonitorOutput } from "../core/monitor.js";
import { ScanVerdictDetector } from "../core/scan-detector.js";
import type { AnyDashboardRecord } from "./model.js";
import { DashboardModel, isRecord, type ProcessCounts, type ScanRecord } from "./model.js";

/**
 * The records of a real watch run, made by the code `watch --json` uses
 * (jsonRecords): a monitor (limit 1) with the scan detector, fed `bursts`
 * bursts of two attempts each that end refused (three incidents), then a
 * process that fails first contacts to six new destinations (a verdict),
 * then the stop.
 */
function watchRecords(bursts = 3): AnyDashboardRecord[] {
  const verdicts = new ScanVerdictDetector();
  const monitor = new HalfOpenMonitor({ limit: 1, quietMs: 100, detectors: [verdicts] });
  const out: AnyDashboardRecord[] = [];
  const publish = (outputs: readonly MonitorOutput[], now: number) => {
    for (const finding of outputs) out.push(...jsonRecords({ kind: "finding", finding, emittedAt: now }, 0));
  };
  const proc = (pid: number): ProcessInfo => ({ pid, name: `p${pid}`, startTime: 1 });
  let sock = 0;
  const attempt = (t: number, pid: number, port: number): ConnectionEvent[] => {
    const s = String(++sock);
    return [
      { type: "connect", time: t, sock: s, pid, family: 4, src: { address: "127.0.0.1", port: 40000 + sock }, dst: { address: "198.18.0.1", port }, process: proc(pid) },
      { type: "reset", time: t + 1, sock: s },
      { type: "leave", time: t + 1, sock: s, newState: 7, inInterrupt: true },
    ];
  };
  for (let i = 0; i < bursts; i++) {
    const t = 1000 * (i + 1);
    const [a, b] = [attempt(t, 7, 9), attempt(t, 7, 9)];
    for (const e of [a[0], b[0], ...a.slice(1), ...b.slice(1)] as ConnectionEvent[]) publish(monitor.handle(e), e.time);
    publish(monitor.tick(t + 500), t + 500);
  }
  for (let port = 1; port <= 6; port++) for (const e of attempt(10_000 + port * 10, 8, port)) publish(monitor.handle(e), e.time);
  publish(monitor.tick(20_000), 20_000);
  out.push(...jsonRecords({ kind: "warning", level: "warning", message: "lost 3 events" }, 0));
  out.push(...jsonRecords({ kind: "stop", totals: monitor.totals(), verdicts: verdicts.counts(), sourceStats: { lostEvents: 0, records: 0 }, time: 20_000, timeWall: 20_000 }, 0));
  return out;
}

const counts = (key: string, attempts: number, extra: Partial<ProcessCounts> = {}): ProcessCounts => ({ key, pid: Number.parseInt(key, 10), name: `p${key}`, attempts, ended: attempts, failed: attempts, exited: false, ...extra });
const none = () => undefined;

describe("dashboard model", () => {
  it("a live sample carries the total, the top series and only the rows that changed", () => {
    const m = new DashboardModel({ limit: 10, topSeries: 2 });
    const first = m.live(1000, 12, [{ key: "1@5", halfOpen: 9 }, { key: "2@5", halfOpen: 2 }, { key: "3@5", halfOpen: 1 }], [counts("1@5", 9), counts("2@5", 2)], (k) => (k === "1@5" ? { pid: 1, name: "<b>x</b>", cmdline: ["scan", "--all"], user: "root", startTime: 5 } : undefined), none);
    assert.equal(first.record.type, "live");
    assert.deepEqual(first.record.top, { "1@5": 9, "2@5": 2 }, "the two largest");
    const rows = first.record.rows;
    assert.deepEqual(
      rows.map((r) => [r.key, r.name, r.cmdline, r.halfOpen, r.failureRatio]),
      [
        ["1@5", "<b>x</b>", "scan --all", 9, 1],
        ["2@5", "p2@5", undefined, 2, 1],
      ],
    );
    const second = m.live(1500, 12, [{ key: "1@5", halfOpen: 9 }, { key: "2@5", halfOpen: 3 }], [counts("1@5", 9), counts("2@5", 3)], none, (k) => (k === "2@5" ? "scanner" : undefined));
    assert.deepEqual(
      second.record.rows.map((r) => [r.key, r.verdict]),
      [["2@5", "scanner"]],
      "only the row that changed",
    );
    const third = m.live(2000, 0, [], [counts("1@5", 9, { exited: true }), counts("2@5", 3)], none, none);
    assert.deepEqual(third.record.rows.map((r) => [r.key, r.exited, r.halfOpen]), [
      ["1@5", true, 0],
      ["2@5", false, 0],
    ]);
    assert.equal(m.snapshot().rows.find((r) => r.key === "1@5")?.firstSeen, 1000, "first seen stays");
  });

  it("Last-Event-ID: exactly the events after it, or undefined once they left the buffer", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 20 }), (n, keep) => {
        const m = new DashboardModel({ limit: 10, maxEvents: keep });
        for (let i = 0; i < n; i++) m.record({ type: "warning", message: `w${i}` });
        assert.equal(m.lastId, n);
        for (let id = 0; id <= n; id++) {
          const got = m.since(id);
          if (n - id <= keep) assert.deepEqual(got?.map((e) => e.id), Array.from({ length: n - id }, (_, i) => id + 1 + i));
          else assert.equal(got, undefined, `id ${id} of ${n}, ${keep} kept`);
        }
        assert.equal(m.since(n + 1), undefined, "an id from another run");
      }),
    );
  });

  it("keeps incidents by run number (the closing record replaces the open one), verdicts on rows, warnings, and the stop: records from a real watch run", () => {
    const m = new DashboardModel({ limit: 1, maxIncidents: 2 });
    m.live(0, 0, [], [counts("8@1", 6)], none, none);
    const records = watchRecords();
    assert.deepEqual(
      records.filter((r) => r.type.startsWith("incident")).map((r) => [r.type, isRecord(r, "incident") || isRecord(r, "incident-open") ? r.id : 0]),
      [
        ["incident-open", 1],
        ["incident", 1],
        ["incident-open", 2],
        ["incident", 2],
        ["incident-open", 3],
        ["incident", 3],
      ],
      "the run made three incidents",
    );
    for (const r of records) m.record(r);
    const s = m.snapshot();
    assert.deepEqual(
      s.incidents.map((i) => [i.id, i.state]),
      [
        [2, "closed"],
        [3, "closed"],
      ],
      "the newest two, closed",
    );
    assert.equal(m.incident(1), undefined);
    assert.equal(m.incident(3)?.peak, 2);
    assert.equal(s.rows[0]?.verdict, "scanner", "the verdict record reached the row by its process key");
    assert.deepEqual(s.warnings, ["lost 3 events"]);
    assert.equal(s.stopped, true);
  });

  it("after a storm of processes, rows let go from the table are not sent again; events carry at most maxRowsPerEvent rows; the resume buffer is bounded by bytes", () => {
    const m = new DashboardModel({ limit: 10, maxRows: 500, maxRowsPerEvent: 200, maxEventBytes: 512 * 1024 });
    const storm = Array.from({ length: 3000 }, (_, i) => counts(`${i + 100}@1`, 1 + (i % 7), { exited: true }));
    const sizes: number[] = [];
    for (let t = 0; t < 40; t++) {
      const e = m.live(t * 250, 0, [], storm, none, none);
      sizes.push(e.record.rows.length);
    }
    assert.ok(sizes.every((n) => n <= 200), `at most 200 rows an event: ${sizes.join(",")}`);
    assert.equal(sizes.at(-1), 0, "once every row was sent or let go, an unchanged storm sends nothing");
    assert.equal(m.snapshot().rows.length, 500);
    assert.ok(m.eventBytes <= 512 * 1024, `resume buffer ${m.eventBytes} bytes`);
    // One evicted process makes more attempts: it comes back.
    const busier = storm.map((c) => (c.key === "100@1" ? { ...c, attempts: 50, exited: false } : c));
    const back = m.live(20_000, 1, [{ key: "100@1", halfOpen: 1 }], busier, none, none);
    assert.deepEqual(back.record.rows.map((r) => r.key), ["100@1"]);
    // Large records: the buffer keeps its byte bound, and a resume past maxBytes is refused (a snapshot instead).
    const before = m.lastId;
    for (let i = 0; i < 100; i++) m.record({ type: "warning", message: "y".repeat(20_000) });
    assert.ok(m.eventBytes <= 512 * 1024 + 20_100);
    assert.equal(m.since(before), undefined, "those events left the buffer");
    const recent = m.lastId - 3;
    assert.equal(m.since(recent)?.length, 3);
    assert.equal(m.since(recent, 30_000), undefined, "more than maxBytes: a snapshot instead");
    assert.equal(m.json(m.since(recent)?.[0] as never), JSON.stringify({ type: "warning", message: "y".repeat(20_000) }));
  });

  it("bounds points and rows (the busiest rows stay)", () => {
    const m = new DashboardModel({ limit: 10, maxPoints: 3, maxRows: 2 });
    for (let i = 0; i < 5; i++) m.live(i, i, [], [counts("1@1", 5), counts("2@1", 1), counts(`${10 + i}@1`, 3)], none, none);
    const s = m.snapshot();
    assert.deepEqual(
      s.points.map((p) => p.t),
      [2, 3, 4],
    );
    assert.deepEqual(s.rows.map((r) => r.key).sort(), ["14@1", "1@1"]);
  });

  it("keeps the page's scans: progress, hosts (bounded), the end with changes, the next round due, and a stop", () => {
    const m = new DashboardModel({ limit: 10, maxScans: 2, maxScanHosts: 2 });
    const spec = { targets: ["198.18.0.0/30"], exclude: [], ports: [22, 80], maxHalfOpen: 10, discovery: "auto", everyMs: 60_000 };
    const host = (n: number) => ({ address: `198.18.0.${n}`, status: "up" as const, reason: "echo-reply", ports: [{ port: 22, state: "open", reason: "syn-ack" }] });
    const summary = { total: 4, done: 4, skipped: 0, up: 3, down: 1, open: 3, unknown: 0, probes: 8, retries: 0, localErrors: 0, peakInFlight: 2, discovery: "raw" as const, discoveryMs: 10, aborted: false, startedAt: 1000, elapsedMs: 2000, startedAtWall: 1000, endedAtWall: 3000, maxHalfOpen: 10, ports: 2 };
    const done = { done: 4, total: 4, up: 3, open: 3, unknown: 0, ratePerS: 2 };
    m.record({ type: "scan-start", id: 1, series: 1, round: 1, startedAtWall: 1000, startedAt: 1000, total: 4, spec, scanId: 7 });
    m.record({ type: "scan-progress", id: 1, progress: { done: 2, total: 4, up: 1, open: 1, unknown: 0, ratePerS: 2, etaMs: 1000 } });
    m.record({ type: "scan-hosts", id: 1, hosts: [host(1)] });
    m.record({ type: "scan-hosts", id: 1, hosts: [host(2), host(3)] });
    m.record({ type: "scan-hosts", id: 99, hosts: [host(9)] }); // an unknown scan: ignored
    const end = m.record({ type: "scan-end", id: 1, state: "done", endedAtWall: 3000, endedAt: 3000, progress: done, summary, changes: [{ change: "host-up", address: "198.18.0.3", reason: "echo-reply", open: [22] }], previous: { scanId: 6 }, scanId: 7, nextAtWall: 61_000, nextAt: 61_000 } satisfies ScanRecord);
    assert.equal(end.record.type, "scan-end");
    const view = m.scan(1);
    assert.deepEqual(view?.hosts.map((h) => h.address), ["198.18.0.1", "198.18.0.2"]);
    assert.equal(view?.truncated, true, "more hosts than kept");
    assert.deepEqual([view?.state, view?.progress.done, view?.changes?.length, view?.nextAtWall, view?.nextAt, view?.scanId, view?.endedAtWall], ["done", 4, 1, 61_000, 61_000, 7, 3000]);
    const brief = m.scans()[0] as Record<string, unknown>;
    assert.equal(brief.hosts, undefined, "lists carry no hosts");
    assert.equal(brief.changeCount, 1);
    // The next round of the series clears the due time; a third scan pushes the first out.
    m.record({ type: "scan-start", id: 2, series: 1, round: 2, startedAtWall: 61_000, startedAt: 61_000, total: 4, spec });
    assert.deepEqual([m.scan(1)?.nextAtWall, m.scan(1)?.nextAt], [undefined, undefined]);
    m.record({ type: "scan-end", id: 2, state: "done", endedAtWall: 62_000, endedAt: 62_000, progress: done, summary, changes: [], nextAtWall: 121_000, nextAt: 121_000 });
    m.record({ type: "scan-stop", series: 1, atWall: 62_000, at: 62_000 });
    assert.equal(m.scan(2)?.nextAt, undefined, "stopped between rounds");
    m.record({ type: "scan-start", id: 3, series: 2, round: 1, startedAtWall: 130_000, startedAt: 130_000, total: 1, spec });
    assert.deepEqual(m.scans().map((s) => s.id), [3, 2]);
    assert.equal(m.scan(1), undefined);
    const snap = m.snapshot();
    assert.deepEqual([snap.scans.map((s) => s.id), snap.scan?.id, snap.scan?.state], [[2, 3], 3, "running"]);
    // Hosts across scans are bounded too: the oldest scan lets its hosts go first.
    const b = new DashboardModel({ limit: 10, maxScanHosts: 5, maxHostsKept: 6 });
    for (const id of [1, 2]) {
      b.record({ type: "scan-start", id, series: id, round: 1, startedAtWall: id, startedAt: id, total: 4, spec, scanId: 10 + id });
      b.record({ type: "scan-hosts", id, hosts: [1, 2, 3, 4].map(host) });
    }
    assert.deepEqual([b.scan(1)?.hosts.length, b.scan(1)?.dropped, b.scan(2)?.hosts.length, b.scan(2)?.dropped], [0, true, 4, undefined]);
    // A resuming page gets the scan records like any other.
    assert.deepEqual(m.since(m.lastId - 2)?.map((e) => e.record.type), ["scan-stop", "scan-start"]);
  });
});
