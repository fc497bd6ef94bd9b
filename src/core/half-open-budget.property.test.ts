/**
 * Property tests of HalfOpenBudget under random request, completion, abort,
 * withdrawal, queue-timeout and pacing orders, against the invariants in the
 * module header.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ManualClock } from "../../test/support/manual-clock.js";
import { HalfOpenBudget, type Lease } from "./half-open-budget.js";

type Op =
  | { kind: "request"; priority: number; withSignal: boolean; preAborted: boolean; maxQueueMs: number | undefined }
  | { kind: "release"; index: number }
  | { kind: "abort"; index: number }
  | { kind: "advance"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("request" as const), priority: fc.integer({ min: 0, max: 2 }), withSignal: fc.boolean(), preAborted: fc.boolean(), maxQueueMs: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("release" as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("abort" as const), index: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

interface Tracked {
  lease: Lease;
  controller: AbortController;
  priority: number;
  maxQueueMs: number | undefined;
  starts: number;
  rejects: number;
  startedInsideRequest: boolean;
}

describe("HalfOpenBudget properties", () => {
  it("keeps its invariants under any order of events", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.option(fc.constantFrom(5, 20, 1000), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
        fc.array(opArb, { maxLength: 120 }),
        (maxHalfOpen, releasePerSecond, budgetMaxQueueMs, ops) => {
          const clock = new ManualClock();
          const budget = new HalfOpenBudget({ clock, maxHalfOpen, releasePerSecond, maxQueueMs: budgetMaxQueueMs });
          const tracked: Tracked[] = [];
          const queuedStartTimes: number[] = [];
          let requesting: Tracked | undefined;

          const check = () => {
            const holding = tracked.filter((t) => t.lease.state === "started").length;
            assert.equal(budget.inFlight, holding, "inFlight = leases holding a slot");
            assert.ok(budget.inFlight <= maxHalfOpen, "never more than maxHalfOpen in flight");
            assert.equal(budget.queued, tracked.filter((t) => t.lease.state === "queued").length);
            for (const t of tracked) assert.ok(t.starts + t.rejects <= 1, "a lease starts or is rejected at most once");
            if (budget.queued > 0 && budget.inFlight < maxHalfOpen) {
              assert.ok(releasePerSecond !== undefined, "work-conserving: a free slot with waiters only while pacing");
            }
          };

          for (const op of ops) {
            if (op.kind === "request") {
              const controller = new AbortController();
              if (op.withSignal && op.preAborted) controller.abort();
              const t: Tracked = { lease: undefined as unknown as Lease, controller, priority: op.priority, maxQueueMs: op.maxQueueMs, starts: 0, rejects: 0, startedInsideRequest: false };
              requesting = t;
              t.lease = budget.request({
                priority: op.priority,
                maxQueueMs: op.maxQueueMs,
                signal: op.withSignal ? controller.signal : undefined,
                start: (lease) => {
                  t.starts++;
                  if (requesting === t) {
                    t.startedInsideRequest = true;
                    return;
                  }
                  // Left the queue: nobody still queued may outrank it.
                  for (const o of tracked) {
                    if (o === t || o.lease.state !== "queued") continue;
                    assert.ok(o.priority < t.priority || (o.priority === t.priority && o.lease.id > lease.id), `lease ${o.lease.id} (p${o.priority}) outranks ${lease.id} (p${t.priority})`);
                  }
                  queuedStartTimes.push(clock.now());
                },
                reject: (error) => {
                  t.rejects++;
                  if (error.code === "HALFOPEN_QUEUE_TIMEOUT") {
                    const limit = t.maxQueueMs ?? budgetMaxQueueMs;
                    assert.ok(limit !== undefined && clock.now() - t.lease.requestedAt >= limit, "queue timeout only after maxQueueMs");
                  } else {
                    assert.equal(error.code, "HALFOPEN_ABORTED");
                  }
                },
              });
              requesting = undefined;
              tracked.push(t);
            } else if (op.kind === "release" && tracked.length > 0) {
              const t = tracked[op.index % tracked.length]!;
              const before = t.lease.state;
              const did = t.lease.release();
              assert.equal(did, before === "started" || before === "queued", "release() acts once, on a started or queued lease");
              assert.equal(t.lease.release(), false, "a second release() does nothing");
            } else if (op.kind === "abort" && tracked.length > 0) {
              tracked[op.index % tracked.length]!.controller.abort();
            } else if (op.kind === "advance") {
              clock.advance(op.ms);
            }
            check();
          }

          // Pacing: starts from the queue are at least 1000/r ms apart.
          if (releasePerSecond !== undefined) {
            for (let i = 1; i < queuedStartTimes.length; i++) {
              assert.ok(queuedStartTimes[i]! - queuedStartTimes[i - 1]! >= 1000 / releasePerSecond - 1e-9, "paced");
            }
          }

          // Drain: complete everything that runs; nothing may be lost.
          for (let round = 0; round < tracked.length + 2 && tracked.some((t) => t.lease.state === "queued" || t.lease.state === "started"); round++) {
            for (const t of tracked) if (t.lease.state === "started") t.lease.release();
            clock.advance(1000);
            check();
          }
          for (const t of tracked) {
            assert.ok(["released", "rejected", "cancelled"].includes(t.lease.state), `lease ${t.lease.id} ended (${t.lease.state})`);
            if (t.lease.state === "released") assert.equal(t.starts, 1);
            if (t.lease.state === "rejected") assert.equal(t.rejects, 1);
            if (t.lease.state === "cancelled") assert.equal(t.starts + t.rejects, 0);
          }
          const s = budget.stats();
          assert.equal(s.inFlight, 0);
          assert.equal(s.queued, 0);
          assert.equal(s.started + s.rejected.aborted + s.rejected.queueTimeout + s.rejected.queueFull + s.cancelled, tracked.length, "every request accounted for");
          assert.equal(s.released, s.started);
          assert.equal(clock.pendingTimers, 0, "no timer left behind");
        },
      ),
      { numRuns: 500 },
    );
  });
});
