import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReverseSequentialTest, ThresholdRandomWalk, TRW_DEFAULTS } from "./sequential-tests.js";

describe("ThresholdRandomWalk (defaults of Jung et al. 2004)", () => {
  it("four straight failures flag a scanner; three do not", () => {
    const t = new ThresholdRandomWalk();
    assert.equal(t.observe(false), undefined);
    assert.equal(t.observe(false), undefined);
    assert.equal(t.observe(false), undefined);
    assert.equal(Math.round(t.ratio), 64);
    assert.equal(t.observe(false), "scanner");
    assert.equal(t.observations, 4);
    assert.equal(t.observe(true), undefined, "decided: later observations change nothing");
    assert.equal(t.decision, "scanner");
  });

  it("successes pull the walk back: F F F S F F is a scanner only at the sixth contact", () => {
    const t = new ThresholdRandomWalk();
    const seq = [false, false, false, true, false];
    for (const s of seq) assert.equal(t.observe(s), undefined);
    assert.equal(Math.round(t.ratio), 64, "4^3 / 4 * 4 = 64");
    assert.equal(t.observe(false), "scanner");
    assert.equal(t.observations, 6);
  });

  it("four straight successes call a process benign", () => {
    const t = new ThresholdRandomWalk();
    for (let i = 0; i < 3; i++) assert.equal(t.observe(true), undefined);
    assert.equal(t.observe(true), "benign");
  });

  it("refuses parameters that make no test", () => {
    assert.throws(() => new ThresholdRandomWalk({ ...TRW_DEFAULTS, theta1: 0.9 }), /theta1 0\.9 with theta0 0\.8/);
    assert.throws(() => new ThresholdRandomWalk({ ...TRW_DEFAULTS, detection: 1 }), /detection 1: it must be a probability/);
  });
});

describe("ReverseSequentialTest (Schechter, Jung, Berger 2004)", () => {
  it("a long benign history cannot hide a new scan: seven straight failures flag after any number of successes", () => {
    const t = new ReverseSequentialTest();
    for (let i = 0; i < 3600; i++) assert.equal(t.observe(true), undefined);
    assert.equal(t.ratio, 1, "the ratio never goes below 1");
    for (let i = 0; i < 6; i++) assert.equal(t.observe(false), undefined);
    assert.equal(t.observe(false), "scanner");
    assert.equal(t.run, 7);
    assert.equal(t.observations, 3607);
  });

  it("TRW, by contrast, decided benign long before and stays so", () => {
    const t = new ThresholdRandomWalk();
    for (let i = 0; i < 3600; i++) t.observe(true);
    for (let i = 0; i < 7; i++) t.observe(false);
    assert.equal(t.decision, "benign");
  });

  it("a success in the run restarts the count when it brings the ratio back to 1", () => {
    const t = new ReverseSequentialTest();
    for (const s of [false, true, true]) t.observe(s);
    assert.equal(t.ratio, 1);
    assert.equal(t.run, 0);
  });
});
