import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DashboardModel, type ProcessCounts } from "./model.js";

const counts = (key: string, attempts: number, extra: Partial<ProcessCounts> = {}): ProcessCounts => ({ key, pid: Number.parseInt(key, 10), name: `p${key}`, attempts, ended: attempts, failed: attempts, exited: false, ...extra });
const none = () => undefined;

describe("dashboard model", () => {
  it("a live sample carries the total, the top series and only the rows that changed", () => {
    const m = new DashboardModel({ limit: 10, topSeries: 2 });
    const first = m.live(1000, 12, [{ key: "1@5", halfOpen: 9 }, { key: "2@5", halfOpen: 2 }, { key: "3@5", halfOpen: 1 }], [counts("1@5", 9), counts("2@5", 2)], (k) => (k === "1@5" ? { pid: 1, name: "<b>x</b>", cmdline: ["scan", "--all"], user: "root", startTime: 5 } : undefined), none);
    assert.equal(first.record.type, "live");
    assert.deepEqual(first.record.top, { "1@5": 9, "2@5": 2 }, "the two largest");
    const rows = first.record.rows as { key: string; name: string; cmdline?: string; halfOpen: number; failureRatio: number }[];
    assert.deepEqual(
      rows.map((r) => [r.key, r.name, r.cmdline, r.halfOpen, r.failureRatio]),
      [
        ["1@5", "<b>x</b>", "scan --all", 9, 1],
        ["2@5", "p2@5", undefined, 2, 1],
      ],
    );
    const second = m.live(1500, 12, [{ key: "1@5", halfOpen: 9 }, { key: "2@5", halfOpen: 3 }], [counts("1@5", 9), counts("2@5", 3)], none, (k) => (k === "2@5" ? "scanner" : undefined));
    assert.deepEqual(
      (second.record.rows as { key: string; verdict?: string }[]).map((r) => [r.key, r.verdict]),
      [["2@5", "scanner"]],
      "only the row that changed",
    );
    const third = m.live(2000, 0, [], [counts("1@5", 9, { exited: true }), counts("2@5", 3)], none, none);
    assert.deepEqual((third.record.rows as { key: string; exited: boolean; halfOpen: number }[]).map((r) => [r.key, r.exited, r.halfOpen]), [
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

  it("keeps incidents by run number (the closing record replaces the open one), verdicts on rows, warnings, and the stop", () => {
    const m = new DashboardModel({ limit: 10, maxIncidents: 2 });
    m.live(0, 0, [], [counts("7@1", 1)], none, none);
    m.record({ type: "incident-open", id: 1, runIncident: 1, startedAtWall: 10 });
    m.record({ type: "incident", id: 1, runIncident: 1, startedAtWall: 10, endedAtWall: 20 });
    m.record({ type: "incident-open", id: 2, runIncident: 2, startedAtWall: 30 });
    m.record({ type: "incident-open", id: 3, runIncident: 3, startedAtWall: 40 });
    m.record({ type: "verdict", processKey: "7@1", pid: 7, verdict: "scanner" });
    m.record({ type: "warning", message: "lost 3 events" });
    m.record({ type: "stop" });
    const s = m.snapshot();
    assert.deepEqual(
      s.incidents.map((i) => i.runIncident),
      [2, 3],
      "the newest two",
    );
    assert.equal(m.incident(1), undefined);
    assert.equal(m.incident(3)?.startedAtWall, 40);
    assert.equal(s.rows[0]?.verdict, "scanner");
    assert.deepEqual(s.warnings, ["lost 3 events"]);
    assert.equal(s.stopped, true);
  });

  it("after a storm of processes, rows let go from the table are not sent again; events carry at most maxRowsPerEvent rows; the resume buffer is bounded by bytes", () => {
    const m = new DashboardModel({ limit: 10, maxRows: 500, maxRowsPerEvent: 200, maxEventBytes: 512 * 1024 });
    const storm = Array.from({ length: 3000 }, (_, i) => counts(`${i + 100}@1`, 1 + (i % 7), { exited: true }));
    const sizes: number[] = [];
    for (let t = 0; t < 40; t++) {
      const e = m.live(t * 250, 0, [], storm, none, none);
      sizes.push((e.record.rows as unknown[]).length);
    }
    assert.ok(sizes.every((n) => n <= 200), `at most 200 rows an event: ${sizes.join(",")}`);
    assert.equal(sizes.at(-1), 0, "once every row was sent or let go, an unchanged storm sends nothing");
    assert.equal(m.snapshot().rows.length, 500);
    assert.ok(m.eventBytes <= 512 * 1024, `resume buffer ${m.eventBytes} bytes`);
    // One evicted process makes more attempts: it comes back.
    const busier = storm.map((c) => (c.key === "100@1" ? { ...c, attempts: 50, exited: false } : c));
    const back = m.live(20_000, 1, [{ key: "100@1", halfOpen: 1 }], busier, none, none);
    assert.deepEqual((back.record.rows as { key: string }[]).map((r) => r.key), ["100@1"]);
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
    const host = (n: number) => ({ address: `198.18.0.${n}`, status: "up", reason: "echo-reply", ports: [{ port: 22, state: "open", reason: "syn-ack" }] });
    m.record({ type: "scan-start", id: 1, series: 1, round: 1, startedAt: 1000, total: 4, spec, scanId: 7 });
    m.record({ type: "scan-progress", id: 1, progress: { done: 2, total: 4, up: 1, open: 1, unknown: 0, ratePerS: 2, etaMs: 1000 } });
    m.record({ type: "scan-hosts", id: 1, hosts: [host(1)] });
    m.record({ type: "scan-hosts", id: 1, hosts: [host(2), host(3)] });
    m.record({ type: "scan-hosts", id: 99, hosts: [host(9)] }); // an unknown scan: ignored
    const end = m.record({ type: "scan-end", id: 1, state: "done", endedAt: 3000, progress: { done: 4, total: 4, up: 3, open: 3, unknown: 0, ratePerS: 2 }, summary: { up: 3 }, changes: [{ change: "host-up", address: "198.18.0.3" }], previous: { scanId: 6 }, scanId: 7, nextAt: 61_000 });
    assert.equal(end.record.type, "scan-end");
    const view = m.scan(1);
    assert.deepEqual(view?.hosts.map((h) => h.address), ["198.18.0.1", "198.18.0.2"]);
    assert.equal(view?.truncated, true, "more hosts than kept");
    assert.deepEqual([view?.state, view?.progress.done, view?.changes?.length, view?.nextAt, view?.scanId], ["done", 4, 1, 61_000, 7]);
    const brief = m.scans()[0] as Record<string, unknown>;
    assert.equal(brief.hosts, undefined, "lists carry no hosts");
    assert.equal(brief.changeCount, 1);
    // The next round of the series clears the due time; a third scan pushes the first out.
    m.record({ type: "scan-start", id: 2, series: 1, round: 2, startedAt: 61_000, total: 4, spec });
    assert.equal(m.scan(1)?.nextAt, undefined);
    m.record({ type: "scan-end", id: 2, state: "done", endedAt: 62_000, nextAt: 121_000 });
    m.record({ type: "scan-stop", series: 1 });
    assert.equal(m.scan(2)?.nextAt, undefined, "stopped between rounds");
    m.record({ type: "scan-start", id: 3, series: 2, round: 1, startedAt: 130_000, total: 1, spec });
    assert.deepEqual(m.scans().map((s) => s.id), [3, 2]);
    assert.equal(m.scan(1), undefined);
    const snap = m.snapshot();
    assert.deepEqual([snap.scans.map((s) => s.id), snap.scan?.id, snap.scan?.state], [[2, 3], 3, "running"]);
    // Hosts across scans are bounded too: the oldest scan lets its hosts go first.
    const b = new DashboardModel({ limit: 10, maxScanHosts: 5, maxHostsKept: 6 });
    for (const id of [1, 2]) {
      b.record({ type: "scan-start", id, series: id, round: 1, startedAt: id, total: 4, spec, scanId: 10 + id });
      b.record({ type: "scan-hosts", id, hosts: [1, 2, 3, 4].map(host) });
    }
    assert.deepEqual([b.scan(1)?.hosts.length, b.scan(1)?.dropped, b.scan(2)?.hosts.length, b.scan(2)?.dropped], [0, true, 4, undefined]);
    // A resuming page gets the scan records like any other.
    assert.deepEqual(m.since(m.lastId - 2)?.map((e) => e.record.type), ["scan-stop", "scan-start"]);
  });
});
