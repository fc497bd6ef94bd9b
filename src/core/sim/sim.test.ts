import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { simulateScan, type ScanPolicy } from "./scan-sim.js";
import { fitLogisticK, limitedScanRate, simulateWorm, type WormPolicy } from "./worm-sim.js";
import { simulateBrowse } from "./browse-sim.js";
import { type GateTicket, makeGate, type SimPolicy } from "./gate.js";
import { simulateP2p } from "./p2p-sim.js";
import { SimClock } from "./sim-clock.js";

describe("SimClock", () => {
  it("runs events in time order, ties in scheduling order, and skips cleared ones", () => {
    const c = new SimClock();
    const seen: string[] = [];
    c.setTimer(() => seen.push("b@5"), 5);
    const x = c.setTimer(() => seen.push("x"), 3);
    c.setTimer(() => {
      seen.push("a@1");
      c.setTimer(() => seen.push("c@5"), 4);
    }, 1);
    c.clearTimer(x);
    assert.equal(c.run(), 5);
    assert.deepEqual(seen, ["a@1", "b@5", "c@5"]);
  });
});

describe("scan simulation: closed forms", () => {
  const dead = { targets: 100, alive: 0, timeoutMs: 1000, retries: 0 };
  it("N slots and fixed timeouts: completion = ceil(k/N) × T (100 dead targets, limit 10: 10 s; no limit: 1 s)", () => {
    assert.equal(simulateScan({ ...dead, policy: { kind: "xp", limit: 10 } }).completionMs, 10_000);
    assert.equal(simulateScan({ ...dead, policy: { kind: "halfopen", limit: 10 } }).completionMs, 10_000);
    assert.equal(simulateScan({ ...dead, policy: { kind: "none" } }).completionMs, 1000);
    assert.equal(simulateScan({ ...dead, targets: 101, policy: { kind: "halfopen", limit: 10 } }).completionMs, 11_000);
  });

  it("an XP host whose probes all time out after 21 s scans at most 10/21 addresses per second, however many threads", () => {
    for (const threads of [10, 100, 1000])
      for (const kind of ["xp", "halfopen", "per-process"] as const) {
        const r = simulateScan({ targets: 1000, alive: 0, timeoutMs: 21_000, threads, policy: { kind, limit: 10 } });
        assert.ok(r.targetsPerSecond <= 10 / 21 + 1e-9, `${kind}, ${threads} threads: ${r.targetsPerSecond}/s`);
        assert.ok(Math.abs(r.targetsPerSecond - 10 / 21) < 0.001);
      }
    // The worm model agrees, whatever its threads.
    for (const threads of [10, 100, 1000]) assert.ok(Math.abs(simulateWorm({ vulnerable: 1000, scanRate: 1000, threads, policy: { kind: "xp", limit: 10, timeoutMs: 21_000 }, durationMs: 1000 }).limitedRate - 10 / 21) < 1e-9);
    // A thread-bound worm with no policy probes at threads / timeout.
    assert.ok(Math.abs(simulateWorm({ vulnerable: 1000, scanRate: 1000, threads: 5, policy: { kind: "none" }, durationMs: 1000 }).freeRate - 5 / 21) < 1e-9);
  });

  it("XP's queue eats the program's timeout and misses live hosts; halfopen's budget, whose timer starts at the grant, misses none", () => {
    const spec = { targets: 500, alive: 0.1, rttMs: 20, timeoutMs: 1000, programTimeoutMs: 1000, threads: 500, seed: 3 };
    const xp = simulateScan({ ...spec, policy: { kind: "xp", limit: 10 } });
    const budget = simulateScan({ ...spec, policy: { kind: "halfopen", limit: 10 } });
    const none = simulateScan({ ...spec, policy: { kind: "none" } });
    assert.equal(none.found, none.aliveTargets);
    assert.equal(budget.found, budget.aliveTargets);
    assert.equal(budget.missed, 0);
    assert.ok(xp.missed > xp.aliveTargets / 2, `xp missed ${xp.missed} of ${xp.aliveTargets}`);
    assert.ok(budget.completionMs > none.completionMs, "the budget costs time instead");
    assert.ok(xp.limitEvents >= 1);
  });

  it("discovery pings first (no slot): dead targets cost a ping timeout instead of a connect timeout, and every live host is still found", () => {
    const spec = { targets: 100, alive: 0.1, rttMs: 5, timeoutMs: 21_000, seed: 4, policy: { kind: "xp", limit: 10 } as ScanPolicy };
    const plain = simulateScan(spec);
    const pinged = simulateScan({ ...spec, discovery: { timeoutMs: 1000 } });
    assert.equal(pinged.found, pinged.aliveTargets);
    assert.equal(pinged.found, plain.found);
    assert.equal(pinged.completionMs, 1000, "the dead targets' ping timeout; the live ones were connected in two round trips");
    assert.equal(pinged.attempts, pinged.aliveTargets, "connects only to hosts that answered");
    // Without it, the dead targets hold XP's 10 slots for 21 s each.
    const deadRounds = Math.ceil((spec.targets - plain.aliveTargets) / 10) * 21_000;
    assert.ok(plain.completionMs >= deadRounds && plain.completionMs < deadRounds + 100, `${plain.completionMs} ms, ${plain.aliveTargets} alive`);
  });

  it("round trips drawn from [rtt, rtt-max] per live host; which targets are alive does not change", () => {
    const base = { targets: 200, alive: 0.5, rttMs: 20, timeoutMs: 5000, seed: 9, policy: { kind: "none" } as ScanPolicy };
    const fixed = simulateScan(base);
    const spread = simulateScan({ ...base, rttMaxMs: 300 });
    assert.equal(spread.aliveTargets, fixed.aliveTargets);
    const answered = spread.progress.slice(1).map((p) => p.t).filter((t) => t < 5000);
    assert.equal(answered.length, spread.aliveTargets);
    assert.ok(answered.every((t) => t >= 20 && t <= 300));
    assert.ok(Math.max(...answered) > 250 && Math.min(...answered) < 70, "the draws spread over the range");
  });

  it("xp-rate: queued attempts leave at the release rate, whatever is in flight", () => {
    const r = simulateScan({ targets: 50, alive: 1, rttMs: 1, timeoutMs: 60_000, policy: { kind: "xp-rate", limit: 10, releasePerSecond: 10 } });
    // 10 start at once; the other 40 leave the queue at 100, 200, ... 4000 ms, each answered 1 ms later.
    assert.equal(r.completionMs, 40 * 100 + 1);
    assert.equal(r.found, 50);
    // Dead targets: the queue still drains at 10/s, so 21 s timeouts do not slow it (the reading under which XP slows no slow worm).
    const dead = simulateScan({ targets: 110, alive: 0, timeoutMs: 21_000, policy: { kind: "xp-rate", limit: 10, releasePerSecond: 10 } });
    assert.equal(dead.completionMs, 100 * 100 + 21_000);
    assert.ok(dead.maxInFlight > 10);
  });

  it("property: under every policy no attempt is lost and at most N are in flight where the policy says N", () => {
    const policy = fc.oneof(
      fc.constant<ScanPolicy>({ kind: "none" }),
      fc.integer({ min: 1, max: 20 }).map<ScanPolicy>((limit) => ({ kind: "xp", limit })),
      fc.integer({ min: 1, max: 20 }).map<ScanPolicy>((limit) => ({ kind: "halfopen", limit })),
      fc.integer({ min: 1, max: 20 }).map<ScanPolicy>((limit) => ({ kind: "per-process", limit })),
      fc.record({ limit: fc.integer({ min: 1, max: 20 }), rate: fc.integer({ min: 1, max: 100 }) }).map<ScanPolicy>(({ limit, rate }) => ({ kind: "halfopen", limit, releasePerSecond: rate })),
      fc.record({ limit: fc.integer({ min: 1, max: 20 }), rate: fc.integer({ min: 1, max: 100 }) }).map<ScanPolicy>(({ limit, rate }) => ({ kind: "xp-rate", limit, releasePerSecond: rate })),
      fc.constant<ScanPolicy>({ kind: "williamson" }),
      fc.constant<ScanPolicy>({ kind: "credit" }),
    );
    fc.assert(
      fc.property(
        fc.record({ targets: fc.integer({ min: 0, max: 120 }), alive: fc.double({ min: 0, max: 1, noNaN: true }), rttMs: fc.integer({ min: 0, max: 500 }), timeoutMs: fc.integer({ min: 1, max: 3000 }), retries: fc.integer({ min: 0, max: 2 }), threads: fc.integer({ min: 1, max: 150 }), seed: fc.nat() }),
        policy,
        (spec, p) => {
          const r = simulateScan({ ...spec, policy: p });
          assert.equal(r.found + r.missed, r.aliveTargets, "every live target is found or reported");
          assert.ok(r.attempts >= spec.targets && r.attempts <= spec.targets * (1 + spec.retries));
          if (p.kind === "xp" || p.kind === "halfopen" || p.kind === "per-process") assert.ok(r.maxInFlight <= p.limit);
          if (p.kind === "halfopen" && spec.rttMs <= spec.timeoutMs) assert.equal(r.missed, 0, "waiting never costs a host that answers within the timeout");
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("worm simulation", () => {
  it("with 10 scans/s and 300,000 vulnerable hosts (Staniford, Paxson, Weaver 2002) the fitted K is within 10% of scan rate × vulnerable / 2^32", () => {
    const r = simulateWorm({ vulnerable: 300_000, scanRate: 10, initialInfected: 10, policy: { kind: "none" }, durationMs: 24 * 3_600_000, seed: 7 });
    assert.ok(Math.abs(r.formulaKPerHour - 2.514) < 0.001);
    assert.ok(r.fittedKPerHour !== undefined);
    assert.ok(Math.abs(r.fittedKPerHour - r.formulaKPerHour) / r.formulaKPerHour < 0.1, `fitted ${r.fittedKPerHour}, formula ${r.formulaKPerHour}`);
    assert.ok(r.infected > 0.99 * 300_000);
  });

  it("the XP limit on every host caps a worm at 10/21 probes/s: its K drops by the same factor", () => {
    const base = { vulnerable: 1_000_000, scanRate: 10, initialInfected: 100, durationMs: 48 * 3_600_000, seed: 11 };
    const free = simulateWorm({ ...base, policy: { kind: "none" } });
    const xp = simulateWorm({ ...base, policy: { kind: "xp", limit: 10, timeoutMs: 21_000 } });
    assert.ok(Math.abs(xp.limitedRate - 10 / 21) < 1e-9);
    assert.ok(free.halfAtMs !== undefined && (xp.halfAtMs === undefined || xp.halfAtMs > 10 * free.halfAtMs), `${free.halfAtMs} vs ${xp.halfAtMs}`);
  });

  it("Code Red v2 from its documented parameters (359,104 hosts, 358 scans/min, one host at the start): K ≈ 1.8/h, and over 359,000 hosts in under 14 hours", () => {
    const r = simulateWorm({ vulnerable: 359_104, scanRate: 358 / 60, initialInfected: 1, policy: { kind: "none" }, durationMs: 14 * 3_600_000, seed: 1 });
    assert.ok(r.fittedKPerHour !== undefined && Math.abs(r.fittedKPerHour - 1.8) / 1.8 < 0.1, `fitted K ${r.fittedKPerHour}`);
    const reached = r.series.find((p) => p.infected >= 359_000);
    assert.ok(reached && reached.t < 14 * 3_600_000, "359,000 infected before 14 h");
  });

  it("each policy's worm probe rate is what its gate lets through a host whose probes all go unanswered", () => {
    const gated = (policy: SimPolicy, scanRate: number, timeoutMs: number) => {
      // Probes arrive at scanRate for 10 minutes; count the starts in the last 8 (after any initial burst).
      const clock = new SimClock();
      const gate = makeGate(policy, clock);
      let starts = 0;
      const n = Math.round(600 * scanRate);
      for (let i = 0; i < n; i++)
        clock.at((i * 1000) / scanRate, () => {
          const t: GateTicket = gate.request({ process: "worm", destination: `a${i}`, start: () => {
            if (clock.now() >= 120_000 && clock.now() < 600_000) starts++;
            clock.setTimer(() => gate.finish(t, false), timeoutMs);
          } });
        });
      clock.run(600_000);
      return starts / 480;
    };
    const cases: [SimPolicy, WormPolicy][] = [
      [{ kind: "xp", limit: 10 }, { kind: "xp", limit: 10, timeoutMs: 21_000 }],
      [{ kind: "per-process", limit: 10 }, { kind: "per-process", limit: 10, timeoutMs: 21_000 }],
      [{ kind: "xp-rate", limit: 10, releasePerSecond: 5 }, { kind: "xp-rate", limit: 10, releasePerSecond: 5 }],
      [{ kind: "williamson" }, { kind: "williamson" }],
      [{ kind: "credit" }, { kind: "credit" }],
      [{ kind: "none" }, { kind: "none" }],
    ];
    for (const [g, w] of cases) {
      const measured = gated(g, 10, 21_000);
      const formula = limitedScanRate(w, 10);
      assert.ok(Math.abs(measured - formula) / formula < 0.05, `${g.kind}: gate ${measured}/s, formula ${formula}/s`);
    }
  });

  it("fitLogisticK recovers K from an exact logistic", () => {
    const K = 1.8;
    const series = Array.from({ length: 200 }, (_, i) => {
      const h = i / 10;
      const a = Math.exp(K * (h - 10)) / (1 + Math.exp(K * (h - 10)));
      return { t: h * 3_600_000, infected: a * 1000 };
    });
    assert.ok(Math.abs((fitLogisticK(series, 1000) ?? 0) - K) < 1e-6);
  });
});

describe("P2P simulation", () => {
  const base = { peers: 200, dead: 0.3, rttMs: 50, timeoutMs: 21_000, wantConnections: 40, peerRateKBs: 10, capKBs: 200, durationMs: 300_000, seed: 1 };
  it("a client that keeps 8 connects in flight (uTorrent's net.max_halfopen) downloads exactly as fast with the XP limit as without", () => {
    const xp = simulateP2p({ ...base, concurrency: 8, policy: { kind: "xp", limit: 10 } });
    const none = simulateP2p({ ...base, concurrency: 8, policy: { kind: "none" } });
    assert.deepEqual(xp.rate, none.rate);
    assert.equal(xp.downloadedKB, none.downloadedKB);
  });

  it("with no limit of its own the client reaches its line at once; the XP limit delays that while dead peers hold the slots, and costs about 1% over five minutes", () => {
    const xp = simulateP2p({ ...base, policy: { kind: "xp", limit: 10 } });
    const none = simulateP2p({ ...base, policy: { kind: "none" } });
    assert.equal(none.fullRateAtMs, 50, "one round trip");
    assert.ok((xp.fullRateAtMs ?? 0) >= 21_000, `xp: ${xp.fullRateAtMs}`);
    assert.ok(none.meanRateKBs > xp.meanRateKBs);
    assert.ok((none.meanRateKBs - xp.meanRateKBs) / none.meanRateKBs < 0.02);
  });

  it("the rate never exceeds the line, and the client never connects more peers than it wants or than are alive", () => {
    fc.assert(
      fc.property(fc.record({ peers: fc.integer({ min: 0, max: 80 }), dead: fc.double({ min: 0, max: 1, noNaN: true }), want: fc.integer({ min: 1, max: 50 }), limit: fc.integer({ min: 1, max: 20 }), seed: fc.nat() }), (p) => {
        const r = simulateP2p({ ...base, peers: p.peers, dead: p.dead, wantConnections: p.want, durationMs: 60_000, seed: p.seed, policy: { kind: "xp", limit: p.limit } });
        assert.ok(r.connected <= p.want && r.connected <= p.peers);
        for (const x of r.rate) assert.ok(x.kbs <= base.capKBs);
      }),
      { numRuns: 100 },
    );
  });
});

describe("browsing simulation", () => {
  const base = { pages: 300, seed: 5 };
  it("no limit: a page loads in one round trip to its slowest host; XP adds a wait only while dead hosts or a page's own burst hold the slots", () => {
    const none = simulateBrowse({ ...base, policy: { kind: "none" } });
    const xp = simulateBrowse({ ...base, policy: { kind: "xp", limit: 10 } });
    assert.ok(none.pageLoadMs.max <= 120 + 1e-9, `no limit: max ${none.pageLoadMs.max} ms`);
    assert.equal(none.pagesDelayed, 0);
    assert.ok(xp.meanPageLoadMs > none.meanPageLoadMs);
    assert.equal(xp.maxInFlight, 10);
    assert.ok(xp.limitEvents > 0);
    assert.equal(xp.attempts, none.attempts, "the same pages under both");
  });

  it("every page loads under every policy (nothing is lost), and credits never bind for a browser whose connects are answered", () => {
    for (const policy of [{ kind: "williamson" }, { kind: "credit" }, { kind: "xp-rate", limit: 10, releasePerSecond: 10 }, { kind: "per-process", limit: 4 }] as SimPolicy[]) {
      const r = simulateBrowse({ ...base, pages: 50, broken: 0, policy });
      assert.equal(r.loaded, 50, policy.kind);
      if (policy.kind === "credit") assert.equal(r.pagesDelayed, 0);
    }
  });

  it("more broken sites cost XP more", () => {
    const few = simulateBrowse({ ...base, broken: 0.02, policy: { kind: "xp", limit: 10 } });
    const many = simulateBrowse({ ...base, broken: 0.5, policy: { kind: "xp", limit: 10 } });
    assert.ok(many.pageLoadMs.p99 > few.pageLoadMs.p99, `${many.pageLoadMs.p99} vs ${few.pageLoadMs.p99}`);
  });
});
