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
});
