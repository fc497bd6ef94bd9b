import { test } from "node:test";
import assert from "node:assert/strict";
import type { Attempt } from "./attempt.js";
import type { Detector, Finding } from "./detector.js";
import { HalfOpenMonitor, isOutput } from "./monitor.js";
import { closed, connect, established, proc, sock } from "../../test/support/events.js";

/** Logs every call it gets, and finds "port-445" on a connect to port 445. */
function toyDetector(log: string[]): Detector {
  const tag = (a: Attempt) => `${a.process.pid}:${a.dst.port}`;
  return {
    name: "toy",
    started(a, ctx) {
      log.push(`start ${tag(a)} halfOpen=${ctx.tracker.halfOpen}`);
      return a.dst.port === 445 ? [{ type: "port-445", time: a.startedAt, pid: a.process.pid } as Finding] : [];
    },
    ended(a, time) {
      log.push(`end ${tag(a)} ${a.outcome} @${time}`);
    },
    exited(pid, time) {
      log.push(`exit ${pid} @${time}`);
    },
    lost(count) {
      log.push(`lost ${count}`);
    },
    tick(now) {
      log.push(`tick ${now}`);
    },
    flush(now) {
      log.push(`flush ${now}`);
    },
  };
}

test("a registered detector receives every start, end, exit, loss and tick in order, after the filter", () => {
  const log: string[] = [];
  const m = new HalfOpenMonitor({ limit: 10, detectors: [toyDetector(log)], filter: (p) => p.pid !== 99 });
  const [a, b, c] = [sock(), sock(), sock()];
  m.handle(connect(1, proc(1), a, { address: "198.18.0.1", port: 80 }));
  m.handle(connect(2, proc(2), b, { address: "198.18.0.1", port: 445 }));
  m.handle(connect(3, proc(99), c)); // filtered out: the detector never sees it
  m.handle(established(4, a));
  m.handle(closed(5, b, true));
  m.handle({ type: "exit", time: 6, pid: 2, name: "p2" });
  m.handle({ type: "lost", time: 7, count: 3 });
  m.tick(8);
  m.flush(9);
  assert.deepEqual(log, [
    "start 1:80 halfOpen=1",
    "start 2:445 halfOpen=2",
    "end 1:80 established @4",
    "end 2:445 timeout @5",
    "exit 2 @6",
    "lost 3",
    "tick 8",
    "flush 9",
  ]);
});

test("a detector's findings come out of the monitor beside the limit detector's, in call order", () => {
  const m = new HalfOpenMonitor({ limit: 1, detectors: [toyDetector([])] });
  m.handle(connect(1, proc(1), sock(), { address: "198.18.0.1", port: 445 }));
  const out = m.handle(connect(2, proc(1), sock(), { address: "198.18.0.1", port: 445 }));
  assert.deepEqual(out.map((o) => o.type), ["incident-open", "port-445"], "the limit detector is called first");
  assert.deepEqual(out[1], { type: "port-445", time: 2, pid: 1 });
  assert.ok(isOutput(out[0] as (typeof out)[number], "incident-open"));
  assert.equal(m.detectors[0], m.limitDetector);
});
