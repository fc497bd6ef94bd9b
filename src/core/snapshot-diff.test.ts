import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SnapshotDiffer, UNKNOWN_OWNER_PID } from "./snapshot-diff.js";
import type { SocketRow, SocketSnapshot } from "./socket-table.js";
import { groupByProcess } from "./socket-table.js";
import { TcpState } from "./tcp-state.js";
import { HalfOpenMonitor } from "./monitor.js";
import type { ProcessInfo } from "./events.js";

function row(key: string, state: number, pid?: number, extra: Partial<SocketRow> = {}): SocketRow {
  return { key, family: 4, local: { address: "198.18.0.2", port: 40000 }, remote: { address: "198.18.0.1", port: Number(key.replace(/\D/g, "")) || 9 }, state, ...(pid === undefined ? {} : { pid }), ...extra };
}

function snap(time: number, rows: SocketRow[], names: Record<number, string> = {}): SocketSnapshot {
  const processes = new Map<number, ProcessInfo>(Object.entries(names).map(([p, n]) => [Number(p), { pid: Number(p), name: n }]));
  return { time, source: "test", rows, processes, warnings: [] };
}

test("connect, retransmit, established, vanished and exit events from successive snapshots", () => {
  const d = new SnapshotDiffer();
  const e1 = d.diff(snap(0, [row("a1", 2, 7), row("a2", 2, 7), row("x", 1, 7)], { 7: "scan" }));
  assert.deepEqual(e1.map((e) => [e.type, "sock" in e ? e.sock : ""]), [["connect", "a1"], ["connect", "a2"]]);
  const c = e1[0];
  assert.ok(c?.type === "connect" && c.process.name === "scan" && c.pid === 7 && c.dst.address === "198.18.0.1");
  const e2 = d.diff(snap(1000, [row("a1", 2, 7, { retransmits: 2 }), row("a2", 1, 7)], { 7: "scan" }), new Set([7]));
  assert.deepEqual(e2.map((e) => e.type), ["retransmit", "retransmit", "leave"]);
  assert.ok(e2[2]?.type === "leave" && e2[2].newState === TcpState.ESTABLISHED && !e2[2].vanished);
  const e3 = d.diff(snap(2000, []), new Set([1]));
  assert.deepEqual(e3.map((e) => e.type), ["leave", "exit"]);
  assert.ok(e3[0]?.type === "leave" && e3[0].vanished === true);
  assert.ok(e3[1]?.type === "exit" && e3[1].pid === 7 && e3[1].name === "scan");
  assert.equal(d.size, 0);
  assert.deepEqual(d.diff(snap(3000, []), new Set()), [], "an exit is reported once");
});

test("a socket without a known owner is counted under pid 0", () => {
  const e = new SnapshotDiffer().diff(snap(0, [row("u", 2, undefined, { uid: 1000 })]));
  assert.ok(e[0]?.type === "connect" && e[0].pid === UNKNOWN_OWNER_PID && e[0].process.name === "(owner unknown)" && e[0].process.uid === 1000);
});

test("property: the monitor fed by diffs counts exactly the SYN_SENT rows of the last snapshot", () => {
  const snapshotArb = fc.array(fc.record({ k: fc.integer({ min: 0, max: 30 }), s: fc.constantFrom(1, 2, 2, 2, 6), p: fc.integer({ min: 1, max: 4 }) }), { maxLength: 40 });
  fc.assert(
    fc.property(fc.array(snapshotArb, { minLength: 1, maxLength: 8 }), (snaps) => {
      const d = new SnapshotDiffer();
      const m = new HalfOpenMonitor({ limit: 5, maxAgeMs: 1e12 });
      let last: SocketRow[] = [];
      snaps.forEach((rs, i) => {
        const seen = new Set<number>();
        last = rs.filter((r) => !seen.has(r.k) && seen.add(r.k)).map((r) => row(`s${r.k}`, r.s, r.p));
        for (const e of d.diff(snap(i * 1000, last))) m.handle(e);
      });
      const expected = last.filter((r) => r.state === TcpState.SYN_SENT);
      assert.equal(m.tracker.halfOpen, expected.length);
      assert.equal(d.size, expected.length);
      const groups = groupByProcess(last, new Map());
      assert.equal(groups.reduce((n, g) => n + g.halfOpen, 0), expected.length, "per-process counts sum to the host count");
      const t = m.totals();
      const ended = t.outcomes.established + t.outcomes.unknown;
      assert.equal(t.attempts, ended + t.outcomes.pending, "every attempt ended once or is pending");
    }),
    { numRuns: 400 },
  );
});

test("groupByProcess: sorted by half-open count, remotes by frequency, unknown owners kept", () => {
  const rows = [
    row("a1", 2, 10, { retransmits: 1 }),
    row("a2", 2, 10, { retransmits: 3, remote: { address: "198.18.0.1", port: 9 } }),
    row("a3", 2, 10, { remote: { address: "198.18.0.1", port: 9 } }),
    row("b1", 2, 20, { ageMs: 5000 }),
    row("b2", 1, 20),
    row("u1", 2, undefined, { uid: 33 }),
  ];
  const names = new Map<number, ProcessInfo>([[10, { pid: 10, name: "worm", user: "bob", uid: 1000 }], [20, { pid: 20, name: "web", uid: 0 }]]);
  const g = groupByProcess(rows, names);
  assert.deepEqual(g.map((x) => [x.pid, x.name, x.halfOpen]), [[10, "worm", 3], [20, "web", 1], [undefined, "(owner unknown)", 1]]);
  assert.equal(g[0]?.remotes[0], "198.18.0.1:9");
  assert.equal(g[0]?.distinctRemotes, 2);
  assert.equal(g[0]?.maxRetransmits, 3);
  assert.equal(g[1]?.oldestAgeMs, 5000);
  assert.equal(g[2]?.uid, 33);
  const all = groupByProcess(rows, names, { allStates: true });
  assert.deepEqual(all.find((x) => x.pid === 20)?.states, { SYN_SENT: 1, ESTABLISHED: 1 });
});
