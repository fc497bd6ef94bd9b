import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyOutcomeCounts } from "./attempt.js";
import { PeriodHistory } from "./period-history.js";

const totals = (attempts: number, lost = 0) => ({ attempts, ended: { ...emptyOutcomeCounts(), timeout: attempts }, lost });

test("a period is the totals now minus those at its starting checkpoint; its maximum spans only its own intervals", () => {
  const h = new PeriodHistory();
  h.observe(5);
  h.checkpoint(10, totals(5), 2);
  h.observe(9);
  h.checkpoint(20, totals(12, 1), 0);
  h.observe(3);
  const p = h.period(10, totals(15, 1), 3);
  assert.deepEqual([p.start, p.attempts, p.ended.timeout, p.lost, p.maxHalfOpen], [10, 10, 10, 1, 9]);
  const q = h.period(20, totals(15, 1), 3);
  assert.deepEqual([q.attempts, q.maxHalfOpen], [3, 3], "the 9 belongs to the earlier interval");
  assert.deepEqual(h.period(20, totals(15, 1), 3), q, "reading twice gives the same answer");
});

test("history is bounded: a period reaching past the oldest kept checkpoint starts there", () => {
  const h = new PeriodHistory({ keepMs: 100, maxEntries: 1000 });
  for (let t = 0; t <= 1000; t += 10) h.checkpoint(t, totals(t), 0);
  const p = h.period(0, totals(1000), 0);
  assert.equal(p.start, 900, "checkpoints older than keepMs were dropped");
  assert.equal(p.attempts, 100);
  const small = new PeriodHistory({ keepMs: 1e9, maxEntries: 5 });
  for (let t = 0; t < 100; t++) small.checkpoint(t, totals(t), 0);
  assert.equal(small.period(0, totals(100), 0).start, 95, "at most maxEntries are kept");
});
