import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type SimPolicy, type GateTicket, makeGate } from "./gate.js";
import { SimClock } from "./sim-clock.js";

/** Requests at `at` ms to `destination`; each started one holds `holdMs` and ends `answered`. Returns start times. */
function drive(policy: SimPolicy, requests: { at: number; process?: string; destination: string; holdMs: number; answered: boolean }[]) {
  const clock = new SimClock();
  const gate = makeGate(policy, clock);
  const started: (number | undefined)[] = requests.map(() => undefined);
  requests.forEach((r, i) =>
    clock.at(r.at, () => {
      const ticket: GateTicket = gate.request({
        process: r.process ?? "p",
        destination: r.destination,
        start: () => {
          started[i] = clock.now();
          clock.setTimer(() => gate.finish(ticket, r.answered), r.holdMs);
        },
      });
    }),
  );
  clock.run();
  return { started, stats: gate.stats() };
}

describe("gates", () => {
  it("williamson: the 5 most recent destinations pass at once; a new one leaves the delay queue once a second, with every waiter for it", () => {
    const fresh = Array.from({ length: 8 }, (_, i) => ({ at: 0, destination: `d${i}`, holdMs: 10, answered: true }));
    const { started, stats } = drive({ kind: "williamson" }, [...fresh, { at: 0, destination: "d7", holdMs: 10, answered: true }, { at: 20_000, destination: "d7", holdMs: 10, answered: true }, { at: 20_000, destination: "d0", holdMs: 10, answered: true }]);
    // Nothing is in the working set at first: one new destination per second, at 1 s, 2 s, ...
    assert.deepEqual(started.slice(0, 8), [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
    assert.equal(started[8], 8000, "the second attempt to d7 left with the first");
    assert.equal(started[9], 20_000, "d7 is in the working set (the 5 most recent)");
    assert.equal(started[10], 21_000, "d0 fell out of it and waits for the next tick");
    assert.equal(stats.limitEvents, 2);
  });

  it("williamson: a queue longer than 100 raises one alarm and loses nothing", () => {
    const reqs = Array.from({ length: 150 }, (_, i) => ({ at: 0, destination: `d${i}`, holdMs: 1, answered: false }));
    const { started, stats } = drive({ kind: "williamson" }, reqs);
    assert.equal(stats.alarms, 1);
    assert.ok(started.every((t) => t !== undefined));
    assert.equal(started[149], 150_000);
  });

  it("credit: 10 first contacts at once; with every one failing, the next waits for the one credit granted after 4 s at zero", () => {
    const reqs = Array.from({ length: 13 }, (_, i) => ({ at: 0, destination: `d${i}`, holdMs: 100, answered: false }));
    const { started } = drive({ kind: "credit" }, reqs);
    assert.deepEqual(started.slice(0, 10), Array(10).fill(0));
    assert.deepEqual(started.slice(10), [4000, 8000, 12_000]);
  });

  it("credit: an answered first contact earns two credits; contacts to a known destination cost nothing; a balance above 10 decays to max(10, ⅔)", () => {
    // 10 answered first contacts at 0 (balance 0 → 20 once they answer at 50 ms), then 20 failing ones at 100 ms:
    // the balance of 20 pays for all of them at once; at 1 s it would have decayed to 13.3.
    const ok = Array.from({ length: 10 }, (_, i) => ({ at: 0, destination: `ok${i}`, holdMs: 50, answered: true }));
    const bad = Array.from({ length: 21 }, (_, i) => ({ at: 100, destination: `bad${i}`, holdMs: 50, answered: false }));
    const again = [{ at: 200, destination: "ok3", holdMs: 5, answered: true }];
    const { started } = drive({ kind: "credit" }, [...ok, ...bad, ...again]);
    assert.deepEqual(started.slice(10, 30), Array(20).fill(100), "20 credits: 20 first contacts");
    assert.equal(started[30], 5000, "the 21st waits for the allowance: the first once-a-second check at least 4 s after the balance hit 0 (at 100 ms)");
    assert.equal(started[31], 200, "a destination contacted before is not a first contact");
    const late = drive({ kind: "credit" }, [...ok, ...Array.from({ length: 14 }, (_, i) => ({ at: 1500, destination: `late${i}`, holdMs: 5, answered: false }))]);
    // At 1 s the balance of 20 fell to 13.33: 13 first contacts pass at 1.5 s, the 14th waits.
    assert.deepEqual(late.started.slice(10, 23), Array(13).fill(1500));
    assert.ok((late.started[23] ?? 0) > 1500);
  });

  it("per-process: each process gets its own N; xp counts them together", () => {
    const reqs = ["a", "b"].flatMap((process) => Array.from({ length: 15 }, (_, i) => ({ at: 0, process, destination: `${process}${i}`, holdMs: 1000, answered: false })));
    const per = drive({ kind: "per-process", limit: 10 }, reqs);
    assert.equal(per.stats.maxInFlight, 20);
    assert.equal(per.stats.maxInFlightPerProcess, 10);
    const xp = drive({ kind: "xp", limit: 10 }, reqs);
    assert.equal(xp.stats.maxInFlight, 10);
    assert.equal(Math.max(...(xp.started as number[])), 2000);
  });

  it("property: under every policy each request starts or is withdrawn, exactly once; N holds where the policy says N", () => {
    const policy = fc.oneof(
      fc.constant<SimPolicy>({ kind: "none" }),
      fc.integer({ min: 1, max: 6 }).map<SimPolicy>((limit) => ({ kind: "xp", limit })),
      fc.integer({ min: 1, max: 6 }).map<SimPolicy>((limit) => ({ kind: "per-process", limit })),
      fc.record({ limit: fc.integer({ min: 1, max: 6 }), r: fc.integer({ min: 1, max: 50 }) }).map<SimPolicy>(({ limit, r }) => ({ kind: "halfopen", limit, releasePerSecond: r })),
      fc.record({ limit: fc.integer({ min: 1, max: 6 }), r: fc.integer({ min: 1, max: 50 }) }).map<SimPolicy>(({ limit, r }) => ({ kind: "xp-rate", limit, releasePerSecond: r })),
      fc.constant<SimPolicy>({ kind: "williamson" }),
      fc.constant<SimPolicy>({ kind: "credit" }),
    );
    const request = fc.record({
      at: fc.integer({ min: 0, max: 5000 }),
      process: fc.constantFrom("a", "b", "c"),
      destination: fc.integer({ min: 0, max: 12 }).map((d) => `d${d}`),
      holdMs: fc.integer({ min: 0, max: 3000 }),
      answered: fc.boolean(),
      giveUpAfter: fc.option(fc.integer({ min: 0, max: 4000 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(policy, fc.array(request, { maxLength: 60 }), (p, reqs) => {
        const clock = new SimClock();
        const gate = makeGate(p, clock);
        const outcome = reqs.map(() => ({ started: 0, withdrawn: 0 }));
        const inFlight = new Map<string, number>();
        let total = 0;
        reqs.forEach((r, i) =>
          clock.at(r.at, () => {
            const ticket: GateTicket = gate.request({
              process: r.process,
              destination: r.destination,
              start: () => {
                assert.equal(outcome[i]!.withdrawn, 0, "a withdrawn request never starts");
                outcome[i]!.started++;
                total++;
                inFlight.set(r.process, (inFlight.get(r.process) ?? 0) + 1);
                if (gate.bound?.per === "host") assert.ok(total <= gate.bound.limit);
                if (gate.bound?.per === "process") assert.ok((inFlight.get(r.process) ?? 0) <= gate.bound.limit);
                clock.setTimer(() => {
                  total--;
                  inFlight.set(r.process, (inFlight.get(r.process) ?? 1) - 1);
                  gate.finish(ticket, r.answered);
                }, r.holdMs);
              },
            });
            if (r.giveUpAfter !== undefined)
              clock.setTimer(() => {
                if (outcome[i]!.started === 0) {
                  outcome[i]!.withdrawn++;
                  gate.cancel(ticket);
                }
              }, r.giveUpAfter);
          }),
        );
        clock.run();
        for (const o of outcome) assert.equal(o.started + o.withdrawn, 1, "nothing lost, nothing twice");
        assert.equal(total, 0);
      }),
      { numRuns: 300 },
    );
  });
});
