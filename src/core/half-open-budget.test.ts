import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HalfOpenError } from "../errors.js";
import { ManualClock } from "../../test/support/manual-clock.js";
import { HalfOpenBudget, type HalfOpenBudgetOptions, type Lease } from "./half-open-budget.js";

function setup(options: HalfOpenBudgetOptions = {}) {
  const clock = new ManualClock();
  const budget = new HalfOpenBudget({ clock, ...options });
  const log: string[] = [];
  const errors = new Map<string, HalfOpenError>();
  const leases = new Map<string, Lease>();
  const ask = (name: string, extra: { priority?: number; signal?: AbortSignal; maxQueueMs?: number } = {}) => {
    const lease = budget.request({
      label: name,
      ...extra,
      start: () => log.push(`start ${name}@${clock.now()}`),
      reject: (e) => {
        log.push(`reject ${name} ${e.code}`);
        errors.set(name, e);
      },
    });
    leases.set(name, lease);
    return lease;
  };
  return { clock, budget, log, errors, leases, ask };
}

describe("HalfOpenBudget", () => {
  it("starts up to the limit at once and queues the rest", () => {
    const { budget, log, ask } = setup({ maxHalfOpen: 2 });
    ask("a");
    ask("b");
    const c = ask("c");
    assert.deepEqual(log, ["start a@0", "start b@0"]);
    assert.equal(c.state, "queued");
    assert.equal(c.openedEpisode, true);
    assert.equal(budget.inFlight, 2);
    assert.equal(budget.queued, 1);
  });

  it("hands a freed slot to the head synchronously, inside release()", () => {
    const { budget, log, leases, ask } = setup({ maxHalfOpen: 1 });
    ask("a");
    ask("b");
    leases.get("a")!.release();
    // b started before release() returned; a newcomer now has to queue.
    assert.deepEqual(log, ["start a@0", "start b@0"]);
    assert.equal(budget.inFlight, 1);
    assert.equal(ask("c").state, "queued");
  });

  it("releases a slot exactly once", () => {
    const { budget, leases, ask } = setup({ maxHalfOpen: 1 });
    ask("a");
    ask("b");
    const a = leases.get("a")!;
    assert.equal(a.release(), true);
    assert.equal(a.release(), false);
    assert.equal(budget.inFlight, 1);
    assert.equal(budget.stats().released, 1);
  });

  it("serves higher priority first and FIFO within a priority", () => {
    const { log, leases, ask } = setup({ maxHalfOpen: 1 });
    ask("a");
    ask("low1");
    ask("high1", { priority: 5 });
    ask("low2");
    ask("high2", { priority: 5 });
    for (const name of ["a", "high1", "high2", "low1"]) leases.get(name)!.release();
    assert.deepEqual(
      log.map((l) => l.split("@")[0]),
      ["start a", "start high1", "start high2", "start low1", "start low2"],
    );
  });

  it("rejects a queued attempt whose signal fires, and lets the next one move up", () => {
    const { log, errors, leases, ask, clock } = setup({ maxHalfOpen: 1 });
    const controller = new AbortController();
    ask("a");
    ask("b", { signal: controller.signal });
    ask("c");
    clock.advance(250);
    controller.abort(new Error("user cancelled"));
    assert.equal(errors.get("b")?.code, "HALFOPEN_ABORTED");
    assert.match(errors.get("b")!.message, /^Connect attempt to b aborted while queued \(waited 250 ms\)$/);
    assert.equal((errors.get("b")!.cause as Error).message, "user cancelled");
    leases.get("a")!.release();
    assert.deepEqual(log, ["start a@0", "reject b HALFOPEN_ABORTED", "start c@250"]);
  });

  it("rejects at once when the signal has already fired", () => {
    const { errors, ask, budget } = setup({ maxHalfOpen: 1 });
    const lease = ask("a", { signal: AbortSignal.abort() });
    assert.equal(lease.state, "rejected");
    assert.equal(errors.get("a")?.code, "HALFOPEN_ABORTED");
    assert.equal(budget.inFlight, 0);
  });

  it("ignores the signal once the attempt started", () => {
    const { ask, budget } = setup({ maxHalfOpen: 1 });
    const controller = new AbortController();
    const lease = ask("a", { signal: controller.signal });
    controller.abort();
    assert.equal(lease.state, "started");
    assert.equal(budget.inFlight, 1);
  });

  it("times out a queued attempt after maxQueueMs, never a started one", () => {
    const { log, errors, ask, clock, leases } = setup({ maxHalfOpen: 1, maxQueueMs: 1000 });
    ask("a");
    ask("b");
    clock.advance(999);
    assert.equal(leases.get("b")!.state, "queued");
    clock.advance(1);
    assert.equal(errors.get("b")?.code, "HALFOPEN_QUEUE_TIMEOUT");
    assert.match(errors.get("b")!.message, /waited 1000 ms in the queue without starting \(maxQueueMs 1000, 1 in flight, limit 1\)/);
    // a has held its slot for 1000 ms and more: the budget never times out a started attempt.
    clock.advance(5000);
    assert.equal(leases.get("a")!.state, "started");
    assert.deepEqual(log, ["start a@0", "reject b HALFOPEN_QUEUE_TIMEOUT"]);
  });

  it("lets a request override maxQueueMs", () => {
    const { errors, ask, clock } = setup({ maxHalfOpen: 1, maxQueueMs: 1000 });
    ask("a");
    ask("b", { maxQueueMs: 100 });
    clock.advance(100);
    assert.equal(errors.get("b")?.code, "HALFOPEN_QUEUE_TIMEOUT");
  });

  it("rejects when the queue is full", () => {
    const { errors, ask, budget } = setup({ maxHalfOpen: 1, maxQueueLength: 1 });
    ask("a");
    ask("b");
    const c = ask("c");
    assert.equal(c.state, "rejected");
    assert.equal(errors.get("c")?.code, "HALFOPEN_QUEUE_FULL");
    assert.equal(budget.stats().rejected.queueFull, 1);
  });

  it("paces starts from the queue at releasePerSecond", () => {
    const { log, leases, ask, clock } = setup({ maxHalfOpen: 2, releasePerSecond: 4 });
    for (const n of ["a", "b", "c", "d", "e"]) ask(n);
    // a and b start at once; every slot is then freed immediately.
    leases.get("a")!.release();
    leases.get("b")!.release();
    clock.advance(10);
    leases.get("c")!.release();
    clock.advance(1000);
    assert.deepEqual(log, ["start a@0", "start b@0", "start c@0", "start d@250", "start e@500"]);
  });

  it("leaves no pace timer behind when the queue empties while it waits (fast-check seed 672732702)", () => {
    const { log, leases, ask, clock } = setup({ maxHalfOpen: 1, releasePerSecond: 5 });
    for (const n of ["a", "b", "c"]) ask(n);
    const controller = new AbortController();
    ask("d", { signal: controller.signal });
    leases.get("a")!.release(); // b starts from the queue
    controller.abort(); // d leaves the queue
    leases.get("b")!.release(); // c must wait 200 ms: the pace timer is armed
    assert.equal(clock.pendingTimers, 1);
    leases.get("c")!.release(); // c withdrawn: nobody left to pace
    assert.equal(clock.pendingTimers, 0);
    ask("e"); // a free slot and an empty queue: starts at once
    assert.deepEqual(log, ["start a@0", "start b@0", "reject d HALFOPEN_ABORTED", "start e@0"]);
  });

  it("withdraws a queued lease without calling reject", () => {
    const { log, ask, leases, budget } = setup({ maxHalfOpen: 1 });
    ask("a");
    const b = ask("b");
    ask("c");
    assert.equal(b.release(), true);
    assert.equal(b.state, "cancelled");
    leases.get("a")!.release();
    assert.deepEqual(log, ["start a@0", "start c@0"]);
    assert.equal(budget.stats().cancelled, 1);
  });

  it("counts limit episodes: the queue going from empty to non-empty", () => {
    const { ask, leases, budget } = setup({ maxHalfOpen: 1 });
    ask("a");
    assert.equal(ask("b").openedEpisode, true);
    assert.equal(ask("c").openedEpisode, false);
    leases.get("a")!.release();
    leases.get("b")!.release();
    assert.equal(budget.queued, 0);
    assert.equal(ask("d").openedEpisode, true);
    assert.equal(budget.stats().limitEpisodes, 2);
  });

  it("survives a start callback that releases synchronously (a connect failing at once)", () => {
    const clock = new ManualClock();
    const budget = new HalfOpenBudget({ clock, maxHalfOpen: 1 });
    const started: number[] = [];
    for (let i = 0; i < 5; i++) {
      budget.request({
        start: (lease) => {
          started.push(i);
          lease.release();
        },
        reject: () => assert.fail("nothing is rejected"),
      });
    }
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(budget.inFlight, 0);
    assert.equal(budget.queued, 0);
  });

  it("rejects bad options with HALFOPEN_INVALID_OPTION", () => {
    for (const options of [{ maxHalfOpen: 0 }, { maxHalfOpen: 1.5 }, { maxHalfOpen: Infinity }, { releasePerSecond: 0 }, { releasePerSecond: Number.NaN }, { maxQueueMs: -1 }, { maxQueueLength: -1 }]) {
      assert.throws(
        () => new HalfOpenBudget(options),
        (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_INVALID_OPTION" && /^Invalid option \w+ "/.test(e.message),
        JSON.stringify(options),
      );
    }
  });
});

describe("HalfOpenBudget and a shared AbortSignal", () => {
  it("one signal shared by a thousand queued requests adds one listener, warns of nothing, and still aborts them all", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const { errors, ask, budget } = setup({ maxHalfOpen: 1 });
      const controller = new AbortController();
      for (let i = 0; i < 1000; i++) ask(`r${i}`, { signal: controller.signal });
      assert.equal(budget.queued, 999);
      controller.abort();
      assert.equal([...errors.values()].filter((e) => e.code === "HALFOPEN_ABORTED").length, 999, "every queued one aborted (the first held its slot)");
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w === "MaxListenersExceededWarning"), []);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
