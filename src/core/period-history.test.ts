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

test("a flood's ticks (100 a second) for two hours: memory stays bounded, a kept boundary stays exact, maxima are not lost", () => {
  const h = new PeriodHistory();
  let attempts = 0;
  let boundary = -1;
  let peakAt = -1;
  for (let t = 0; t <= 2 * 3_600_000; t += 10) {
    attempts += 2;
    // One high count, 80 minutes in (40 before the end): its checkpoint is thinned away later, and its maximum must move on.
    const halfOpen = t === 4_800_010 ? 900 : 40;
    if (halfOpen === 900) peakAt = t;
    h.observe(halfOpen);
    h.checkpoint(t, totals(attempts), 40);
    // A reader's period boundary 25 minutes before the end, a moment that is not a whole second.
    if (t === 2 * 3_600_000 - 25 * 60_000 + 370) {
      boundary = t;
      h.keep(t);
    }
  }
  assert.ok(peakAt > 0 && boundary > 0);
  assert.ok(h.size < 6000 + 3600 + 10, `checkpoints kept: ${h.size} (a minute of all of them, then one a second)`);
  const now = totals(attempts);
  const p = h.period(boundary, now, 40);
  assert.equal(p.start, boundary, "the kept boundary is still there, 25 minutes later");
  assert.equal(p.attempts, (2 * 3_600_000 - boundary) / 10 * 2, "exactly the attempts after it");
  assert.equal(p.maxHalfOpen, 40);
  // A period over the peak: its checkpoint is gone (thinned), its maximum is not.
  const q = h.period(peakAt - 10_000.5, now, 40);
  assert.equal(q.maxHalfOpen, 900);
  assert.ok(q.start <= peakAt - 10_000.5 && q.start > peakAt - 11_001, `starts at the checkpoint kept before (${q.start})`);
  assert.equal(q.attempts, now.attempts - (q.start / 10 + 1) * 2, "counted from where it says it starts");
  // Older than an hour: dropped; a period from the start begins at the oldest kept.
  assert.ok(h.period(0, now, 40).start >= 3_600_000);
});

test("thinning keeps the first checkpoint of each second beyond the recent minute, and every recent one", () => {
  const h = new PeriodHistory({ fineMs: 1000, coarseMs: 100 });
  for (let t = 0; t <= 5000; t += 10) h.checkpoint(t, totals(t), 0);
  // Recent (after 4000): every 10 ms; before: one per 100 ms.
  assert.equal(h.period(4550, totals(5000), 0).start, 4550);
  assert.equal(h.period(3550, totals(5000), 0).start, 3500, "thinned: the first of its 100 ms");
  assert.equal(h.size, 40 + 101);
});
