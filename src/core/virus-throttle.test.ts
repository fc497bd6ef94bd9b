import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirusThrottle } from "./virus-throttle.js";

describe("VirusThrottle (Williamson 2002) as a score", () => {
  it("a client that keeps to its working set never queues", () => {
    const t = new VirusThrottle();
    let max = 0;
    // Five servers, one new destination per second at most: each is released before the next comes.
    for (let s = 0; s < 60; s++) max = Math.max(max, t.connect(`10.0.0.${s % 5}`, s * 1000 + 1));
    assert.equal(max, 1, "a new destination waits for the next release tick, alone");
    assert.equal(t.queueAt(61_000), 0);
  });

  it("a scanner's queue grows by its rate minus one per second", () => {
    const t = new VirusThrottle();
    // 20 new destinations a second for 5 s.
    for (let i = 0; i < 100; i++) t.connect(`198.18.${i >> 8}.${i & 255}`, i * 50);
    assert.equal(t.peak, 100 - 4, "released one per second after the first queued connect (at 1, 2, 3, 4 s)");
    assert.equal(t.queueAt(5000), 95);
    assert.equal(t.queueAt(10_000), 90);
  });

  it("repeated connects to a queued destination count once", () => {
    const t = new VirusThrottle();
    for (let i = 0; i < 10; i++) t.connect("a", i);
    assert.equal(t.queueAt(10), 1);
    assert.equal(t.delayed, 10);
  });
});
