/**
 * Property: on any interleaving of several processes' attempts, each
 * process's verdicts depend only on its own attempts (the same findings as
 * when it runs alone), whatever the others do and whenever the clock ticks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ConnectionEvent } from "./events.js";
import { HalfOpenMonitor, isOutput, type MonitorOutput } from "./monitor.js";
import { ScanVerdictDetector, type VerdictFinding } from "./scan-detector.js";
import { TcpState } from "./tcp-state.js";

/** One attempt of a process: to destination `dst`, answered, refused, retransmitted or silent, ending after `lasts` ms. */
interface Plan {
  pid: number;
  start: number;
  dst: number;
  end: "answered" | "refused" | "retransmit" | "silent" | "aborted";
  lasts: number;
}

const plan = fc.record({
  pid: fc.integer({ min: 1, max: 4 }),
  start: fc.integer({ min: 0, max: 20_000 }),
  dst: fc.integer({ min: 0, max: 12 }),
  end: fc.constantFrom("answered" as const, "refused" as const, "retransmit" as const, "silent" as const, "aborted" as const),
  lasts: fc.integer({ min: 1, max: 3000 }),
});

/** The events of the plans, in time order (a stable sort keeps each attempt's own order). */
function events(plans: Plan[]): ConnectionEvent[] {
  const out: ConnectionEvent[] = [];
  plans.forEach((p, i) => {
    const sock = `s${i}`;
    const process = { pid: p.pid, name: `p${p.pid}` };
    const dst = { address: `198.18.0.${p.dst}`, port: 80 + (p.dst % 3) };
    out.push({ type: "connect", time: p.start, sock, pid: p.pid, family: 4, src: { address: "198.18.9.9", port: 0 }, dst, process });
    const t = p.start + p.lasts;
    if (p.end === "answered") out.push({ type: "leave", time: t, sock, newState: TcpState.ESTABLISHED, inInterrupt: true });
    if (p.end === "refused") out.push({ type: "reset", time: t, sock }, { type: "leave", time: t, sock, newState: TcpState.CLOSE, inInterrupt: true });
    if (p.end === "retransmit") out.push({ type: "retransmit", time: t, sock });
    if (p.end === "aborted") out.push({ type: "leave", time: t, sock, newState: TcpState.CLOSE, inInterrupt: false });
  });
  return out.sort((a, b) => a.time - b.time);
}

function verdicts(evs: ConnectionEvent[], tickEvery: number): VerdictFinding[] {
  const m = new HalfOpenMonitor({ limit: 1000, maxAgeMs: 60_000, detectors: [new ScanVerdictDetector()] });
  const found: VerdictFinding[] = [];
  const take = (outs: readonly MonitorOutput[]) => {
    for (const o of outs) if (isOutput(o, "verdict")) found.push(o);
  };
  let nextTick = tickEvery;
  for (const e of evs) {
    while (nextTick <= e.time) {
      take(m.tick(nextTick));
      nextTick += tickEvery;
    }
    take(m.handle(e));
  }
  take(m.flush(100_000));
  return found;
}

test("each process's verdicts depend only on its own attempts", () => {
  fc.assert(
    fc.property(fc.array(plan, { maxLength: 120 }), fc.integer({ min: 50, max: 5000 }), fc.integer({ min: 50, max: 5000 }), (plans, tickA, tickB) => {
      // Each socket id is unique to its plan, so the processes share nothing but the clock.
      const together = verdicts(events(plans), tickA);
      for (const pid of new Set(plans.map((p) => p.pid))) {
        const alone = verdicts(
          events(plans.filter((p) => p.pid === pid)),
          tickB,
        );
        const mine = together.filter((v) => v.pid === pid);
        assert.deepEqual(
          mine.map((v) => [v.verdict, v.test, v.firstContacts, v.time]),
          alone.map((v) => [v.verdict, v.test, v.firstContacts, v.time]),
        );
      }
    }),
    { numRuns: 300 },
  );
});
