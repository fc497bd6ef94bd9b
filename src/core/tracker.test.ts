import { test } from "node:test";
import assert from "node:assert/strict";
import { SynSentTracker } from "./tracker.js";
import { TcpState } from "./tcp-state.js";
import { closed, connect, established, proc, sock } from "../../test/support/events.js";

test("an attempt ends once with the outcome of how it left SYN_SENT", () => {
  const t = new SynSentTracker();
  const p = proc(100);
  const [a, b, c, d] = [sock(), sock(), sock(), sock()];
  for (const s of [a, b, c, d]) t.connect(connect(0, p, s));
  assert.equal(t.halfOpen, 4);
  assert.equal(t.leave(established(1, a))?.outcome, "established");
  t.reset(b);
  assert.equal(t.leave(closed(2, b, false))?.outcome, "refused");
  t.retransmit(c);
  const timedOut = t.leave(closed(3, c, true));
  assert.equal(timedOut?.outcome, "timeout");
  assert.equal(timedOut?.retransmits, 1);
  assert.equal(t.leave(closed(4, d, false))?.outcome, "aborted");
  assert.equal(t.halfOpen, 0);
  assert.equal(t.leave(closed(5, d, false)), undefined, "a second end is not counted");
  assert.equal(t.unmatched, 1);
});

test("the local port is filled in when the attempt ends", () => {
  const t = new SynSentTracker();
  const s = sock();
  t.connect(connect(0, proc(1), s));
  assert.equal(t.leave(established(1, s))?.src.port, 40000);
});

test("a connect on a socket still pending ends the old attempt as unknown", () => {
  const t = new SynSentTracker();
  const s = sock();
  const first = t.connect(connect(0, proc(1), s)).attempt;
  const second = t.connect(connect(5, proc(2), s));
  assert.equal(second.ended, first);
  assert.equal(first.outcome, "unknown");
  assert.equal(first.endedAt, 5);
  assert.equal(t.halfOpen, 1);
  assert.equal(t.halfOpenOf("1"), 0);
  assert.equal(t.halfOpenOf("2"), 1);
});

test("attempts with no end event expire after maxAgeMs, oldest first", () => {
  const t = new SynSentTracker({ maxAgeMs: 1000 });
  t.connect(connect(0, proc(1)));
  t.connect(connect(600, proc(1)));
  assert.equal(t.expire(999).length, 0);
  const expired = t.expire(1000);
  assert.equal(expired.length, 1);
  assert.equal(expired[0]?.outcome, "unknown");
  assert.equal(t.halfOpen, 1);
  assert.equal(t.expire(1600).length, 1);
  assert.equal(t.halfOpen, 0);
});

test("per-process counts tell processes with the same pid apart by start time", () => {
  const t = new SynSentTracker();
  t.connect(connect(0, proc(7, "old", { startTime: 10 })));
  t.connect(connect(1, proc(7, "new", { startTime: 99 })));
  t.connect(connect(2, proc(7, "new", { startTime: 99 })));
  assert.deepEqual(
    t.perProcess().map((r) => [r.processKey, r.halfOpen]),
    [
      ["7@99", 2],
      ["7@10", 1],
    ],
  );
});

test("an attempt whose SYN this host dropped ends dropped-locally, whether the kernel or the program gives up; a RST still means refused", () => {
  const t = new SynSentTracker();
  for (const s of ["a", "b", "c", "d"]) t.connect(connect(0, proc(1), s));
  for (const s of ["a", "b", "c"]) t.dropped(s, "NETFILTER_DROP");
  t.dropped("nope", "NETFILTER_DROP");
  t.reset("c");
  const end = (sock: string, inInterrupt: boolean) => t.leave({ type: "leave", time: 3000, sock, newState: TcpState.CLOSE, inInterrupt });
  assert.deepEqual([end("a", true)?.outcome, end("b", false)?.outcome, end("c", true)?.outcome, end("d", true)?.outcome], ["dropped-locally", "dropped-locally", "refused", "timeout"]);
});

test("start (the hot path) says in superseded which attempt a socket's new connect ended, and connect the same", () => {
  const t = new SynSentTracker();
  const s = sock();
  const first = t.start({ ...connect(0, proc(1), s), slot: 7 });
  assert.equal(t.superseded, undefined);
  assert.equal(first.slot, 7);
  assert.equal(first.endedAt, undefined);
  const second = t.start({ ...connect(5, proc(1), s), slot: 7 });
  assert.equal(t.superseded, first, "its end was lost: the new connect ends it");
  assert.equal(first.outcome, "unknown");
  assert.equal(first.endedAt, 5);
  assert.equal(t.halfOpen, 1);
  const other = t.start(connect(6, proc(2)));
  assert.equal(t.superseded, undefined, "reset by each start");
  assert.equal(other.slot, undefined);
  const { attempt, ended } = t.connect({ ...connect(9, proc(1), s), slot: 7 });
  assert.equal(ended, second);
  assert.equal(attempt.startedAt, 9);
  assert.deepEqual([...t.pending()].map((a) => a.startedAt), [6, 9]);
});
