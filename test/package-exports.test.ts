/**
 * The published entry points resolve through package.json "exports" to the
 * built dist/ (scripts/check.sh builds it first) and export the same classes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

describe("package exports", () => {
  it("halfopen/limiter and halfopen export the limiter", async () => {
    const limiterEntry = await import("halfopen/limiter");
    const root = await import("halfopen");
    assert.equal(typeof limiterEntry.HalfOpenLimiter, "function");
    assert.equal(root.HalfOpenLimiter, limiterEntry.HalfOpenLimiter);
    assert.equal(root.HalfOpenBudget, limiterEntry.HalfOpenBudget);
    const limiter = new limiterEntry.HalfOpenLimiter({ maxHalfOpen: 3 });
    assert.equal(limiter.stats().maxHalfOpen, 3);
    assert.equal(limiterEntry.CHANNEL_NAMES.limitReached, "halfopen:limiter:limit-reached");
  });

  it("halfopen/scanner exports the scanner and its parsers", async () => {
    const scanner = await import("halfopen/scanner");
    assert.equal(typeof scanner.scan, "function");
    assert.equal(scanner.DEFAULT_PORTS.length, 20);
    const spec = scanner.parseTarget("198.18.0.0/30");
    assert.ok(spec.kind === "range");
    assert.equal(new scanner.TargetSet([spec.range]).count(), 4n);
  });
});
