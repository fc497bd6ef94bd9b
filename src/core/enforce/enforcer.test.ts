/**
 * The enforcer on the simulator's virtual clock: slots and the fixed rate,
 * resends, programs that give up, trusted programs, packets and attempts in
 * either order, scopes, dry runs, containment; and a property test that no
 * interleaving puts more than the limit in flight or leaves a packet without
 * exactly one verdict.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Attempt, processKeyOf } from "../attempt.js";
import type { DetectorContext } from "../detector.js";
import type { ProcessInfo } from "../events.js";
import type { VerdictSummary } from "../scan-detector.js";
import { SimClock } from "../sim/sim-clock.js";
import { Enforcer, type EnforcerOptions, type HeldSyn } from "./enforcer.js";

const SRC = "198.18.0.1";

function rig(over: Partial<EnforcerOptions> & { portKnownAtStart?: boolean } = {}, verdicts: Record<string, VerdictSummary> = {}) {
  const clock = new SimClock();
  const given = new Map<number, boolean[]>();
  const order: number[] = [];
  const e = new Enforcer({
    limit: 2,
    per: "host",
    clock,
    verdict: (id, accept) => {
      given.set(id, [...(given.get(id) ?? []), accept]);
      if (accept) order.push(id);
    },
    ...Object.fromEntries(Object.entries(over).filter(([k]) => k !== "portKnownAtStart")),
  });
  const ctx = { verdictOf: (k: string) => verdicts[k] } as unknown as DetectorContext;
  const syn = (id: number, port: number, uid?: number): HeldSyn => ({ id, saddr: SRC, sport: port, daddr: "198.18.1.1", dport: 80, ...(uid === undefined ? {} : { uid }) });
  // As the monitor reports a connect(): its source port is not chosen yet when it starts (known at its end).
  const ports = new Map<number, number>();
  const attempt = (port: number, p: ProcessInfo, outcome: Attempt["outcome"] = "pending"): Attempt => (ports.set(port, port), {
    id: port,
    sock: `sk${port}`,
    process: p,
    processKey: processKeyOf(p),
    family: 4,
    src: { address: SRC, port: over.portKnownAtStart ? port : 0 },
    dst: { address: "198.18.1.1", port: 80 },
    startedAt: clock.now(),
    outcome,
    retransmits: 0,
    reset: false,
  });
  // As the monitor does: the attempt's end, then the tick that closes its batch of events.
  const end = (a: Attempt, outcome: Attempt["outcome"] = "timeout") => {
    a.outcome = outcome;
    a.src.port = ports.get(a.id) ?? a.id;
    return [...e.ended(a), ...e.tick(clock.now())];
  };
  return { clock, e, given, order, ctx, syn, attempt, end };
}

const P = { pid: 100, name: "scan" };

test("slot: the limit goes at once, the rest wait in order and go as slots free", () => {
  const r = rig();
  const attempts = [1, 2, 3, 4, 5].map((i) => r.attempt(40000 + i, P));
  for (const [i, a] of attempts.entries()) {
    r.e.started(a, r.ctx);
    r.e.packet(r.syn(i + 1, 40001 + i));
  }
  assert.deepEqual(r.order, [1, 2]);
  assert.equal(r.e.counters.holding, 3);
  r.clock.setTimer(() => r.end(attempts[1] as Attempt), 1000);
  r.clock.run();
  assert.deepEqual(r.order, [1, 2, 3], "one slot freed, the oldest held went");
  assert.equal(attempts[2]?.heldMs, 1000, "its wait is on the attempt");
  r.end(attempts[0] as Attempt, "established");
  r.end(attempts[2] as Attempt);
  assert.deepEqual(r.order, [1, 2, 3, 4, 5]);
  assert.equal(r.e.counters.held, 3);
  assert.equal(r.e.counters.maxInFlight, 2);
  assert.equal(r.e.counters.holdEpisodes, 1);
  const s = r.e.heldOf(processKeyOf(P));
  assert.equal(s?.held, 3);
  assert.equal(s?.medianWaitMs, 1000);
});

test("rate: once the limit is in flight, held attempts go at the fixed rate whatever is in flight", () => {
  const r = rig({ releasePerSecond: 10 });
  for (let i = 1; i <= 6; i++) r.e.packet(r.syn(i, 40000 + i));
  assert.deepEqual(r.order, [1, 2]);
  const at: number[] = [];
  const seen = r.order.length;
  for (let t = 50; t <= 500; t += 50) {
    r.clock.run(t);
    while (at.length + seen < r.order.length) at.push(t);
  }
  assert.deepEqual(r.order, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(at, [100, 200, 300, 400], "one each 100 ms, though nothing ended");
});

test("resends: a held attempt's resent SYN is dropped, a released one's is let go; the held one still goes in its turn", () => {
  const r = rig({ limit: 1 });
  r.e.packet(r.syn(1, 40001));
  r.e.packet(r.syn(2, 40002));
  r.e.packet(r.syn(3, 40002));
  r.e.packet(r.syn(4, 40001));
  assert.deepEqual([...r.given], [[1, [true]], [3, [false]], [4, [true]]]);
  assert.equal(r.e.counters.deduplicated, 1);
  assert.equal(r.e.counters.retransmissions, 1);
  r.end(r.attempt(40001, P));
  assert.deepEqual(r.given.get(2), [true]);
});

test("a program that gives up on a held attempt: its SYN is dropped and leaves the queue; a packet read after its attempt ended takes no slot", () => {
  const r = rig({ limit: 1 });
  r.e.packet(r.syn(1, 40001));
  r.e.packet(r.syn(2, 40002));
  r.e.packet(r.syn(3, 40003));
  const gaveUp = r.attempt(40002, P);
  r.clock.setTimer(() => r.end(gaveUp, "aborted"), 2000);
  r.clock.run();
  assert.deepEqual(r.given.get(2), [false]);
  assert.equal(gaveUp.heldMs, 2000);
  assert.equal(r.e.counters.abandoned, 1);
  r.end(r.attempt(40001, P));
  assert.deepEqual(r.given.get(3), [true], "the next in line, not the abandoned one");
  // Ended before its packet was read (a fast close): let go, no slot.
  r.end(r.attempt(40009, P), "aborted");
  r.e.packet(r.syn(9, 40009));
  assert.deepEqual(r.given.get(9), [true]);
  assert.equal(r.e.counters.inFlight, 1);
});

test("trusted programs and halfopen itself: never held, no slot, whichever channel speaks first", () => {
  const trusted = { pid: 7, name: "backup" };
  const r = rig({ limit: 1, trusted: (p) => p.name === "backup", selfPid: 8 });
  r.e.packet(r.syn(1, 40001));
  r.e.packet(r.syn(2, 40002)); // held: whose is not known yet
  assert.equal(r.given.has(2), false);
  // The monitor reports them in the order they started (their SYNs' order).
  r.e.started(r.attempt(40001, P), r.ctx);
  r.e.started(r.attempt(40002, trusted), r.ctx);
  assert.deepEqual(r.given.get(2), [true], "let go once it is known to be trusted");
  r.e.started(r.attempt(40003, { pid: 8, name: "halfopen" }), r.ctx);
  r.e.packet(r.syn(3, 40003));
  assert.deepEqual(r.given.get(3), [true], "our own, known first");
  assert.equal(r.e.counters.held, 0);
  assert.equal(r.e.counters.exempt, 2);
  r.e.packet(r.syn(4, 40004));
  assert.equal(r.given.has(4), false, "the one slot is still the first attempt's");
});

test("per process: each process has its own limit; a packet waits for the monitor to say whose it is, and goes to an unknown scope after the wait", () => {
  const r = rig({ limit: 1, per: "process", attributionWaitMs: 100 });
  const a = { pid: 1, name: "a" };
  const b = { pid: 2, name: "b" };
  r.e.packet(r.syn(1, 40001));
  r.e.packet(r.syn(2, 40002));
  assert.equal(r.given.size, 0, "waiting to learn whose");
  r.e.started(r.attempt(40001, a), r.ctx);
  r.e.started(r.attempt(40002, b), r.ctx);
  assert.deepEqual(r.order, [1, 2], "one each");
  r.e.started(r.attempt(40003, a), r.ctx);
  r.e.packet(r.syn(3, 40003));
  assert.equal(r.given.has(3), false, "a's second waits for a's slot");
  r.e.packet(r.syn(4, 40004));
  r.clock.run(150);
  assert.deepEqual(r.given.get(4), [true], "unknown after 100 ms: its own scope");
});

test("per uid: the socket owner's uid from the queue decides, without waiting", () => {
  const r = rig({ limit: 1, per: "uid" });
  r.e.packet(r.syn(1, 40001, 1000));
  r.e.packet(r.syn(2, 40002, 1001));
  r.e.packet(r.syn(3, 40003, 1000));
  assert.deepEqual(r.order, [1, 2]);
});

test("dry run: every SYN goes at once; what would have been held is counted", () => {
  const r = rig({ limit: 1, dryRun: true });
  for (let i = 1; i <= 4; i++) r.e.packet(r.syn(i, 40000 + i));
  assert.deepEqual(r.order, [1, 2, 3, 4]);
  assert.equal(r.e.counters.held, 3);
  assert.equal(r.e.counters.holdEpisodes, 1);
});

test("containment: a process judged a scanner gets its own limit; the finding says so", () => {
  const scanner = { pid: 66, name: "nmap" };
  const verdicts: Record<string, VerdictSummary> = {};
  const r = rig({ limit: 5, containLimit: 1 }, verdicts);
  const first = r.attempt(41000, scanner);
  r.e.started(first, r.ctx);
  r.e.packet(r.syn(1, 41000));
  verdicts[processKeyOf(scanner)] = { verdict: "scanner" } as VerdictSummary;
  const found = r.e.started(r.attempt(41001, scanner), r.ctx);
  assert.deepEqual(found.map((f) => f.type), ["contained"]);
  r.e.packet(r.syn(2, 41001));
  r.e.started(r.attempt(41002, scanner), r.ctx);
  r.e.packet(r.syn(3, 41002));
  assert.deepEqual(r.order, [1, 2], "one in flight in its own scope; the host's has room");
  assert.deepEqual(r.e.heldOf(processKeyOf(scanner))?.contained, { limit: 1 });
});

test("property: in any interleaving of packets, resends, attempts and ends, at most `limit` are in flight (slot release) and every SYN gets exactly one verdict", () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant("packet" as const), port: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ k: fc.constant("started" as const), port: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ k: fc.constant("ended" as const), port: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ k: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 500 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.array(op, { maxLength: 80 }), (limit, rate, ops) => {
      const r = rig({ limit, ...(rate ? { releasePerSecond: 20 } : {}) });
      let id = 0;
      const idsOf = new Map<number, number[]>();
      const live = new Set<number>();
      const ended = new Set<number>();
      const inFlight = new Set<number>();
      const accepted = (port: number) => (idsOf.get(port) ?? []).some((i) => r.given.get(i)?.[0] === true);
      for (const o of ops) {
        if (o.k === "packet") {
          if (ended.has(o.port)) continue; // a closed socket sends no SYN
          const i = ++id;
          idsOf.set(o.port, [...(idsOf.get(o.port) ?? []), i]);
          live.add(o.port);
          r.e.packet(r.syn(i, 40000 + o.port));
        } else if (o.k === "started") {
          if (!ended.has(o.port)) r.e.started(r.attempt(40000 + o.port, P), r.ctx);
        } else if (o.k === "ended") {
          if (!live.has(o.port) || ended.has(o.port)) continue;
          ended.add(o.port);
          inFlight.delete(o.port);
          r.end(r.attempt(40000 + o.port, P));
        } else r.clock.run(r.clock.now() + o.ms);
        for (const port of live) if (!ended.has(port) && accepted(port)) inFlight.add(port);
        // The fixed rate drains the queue whatever is in flight (xp-rate): the bound is the slot policy's.
        if (!rate) assert.ok(inFlight.size <= limit, `${inFlight.size} in flight, limit ${limit}`);
      }
      for (const ids of idsOf.values()) for (const i of ids) assert.ok((r.given.get(i)?.length ?? 0) <= 1, `packet ${i} got one verdict at most`);
      r.e.releaseAll();
      for (const ids of idsOf.values()) for (const i of ids) assert.equal(r.given.get(i)?.length, 1, `packet ${i} got exactly one verdict`);
    }),
    { numRuns: 300 },
  );
});

test("attempts whose SYN never comes through the queue are counted as unheld (a full queue fails open); packet-socket SYNs as unholdable", () => {
  const r = rig({ limit: 1, holdable: (a) => a.dst.address !== "127.0.0.1" });
  r.e.started(r.attempt(40001, P), r.ctx);
  const quick = r.attempt(40002, P);
  r.e.started(quick, r.ctx);
  r.end(quick, "refused");
  const local = r.attempt(40003, P);
  local.dst = { address: "127.0.0.1", port: 80 };
  r.e.started(local, r.ctx);
  r.e.started({ ...r.attempt(40004, P), via: "packet" }, r.ctx);
  // A raw sender's attempt knows its port at start: joined by 4-tuple.
  r.e.started(r.attempt(40005, P), r.ctx);
  r.e.packet(r.syn(5, 40005));
  r.clock.run(6000);
  r.e.tick(6000);
  assert.equal(r.e.counters.unqueued, 2, "the one still pending and the one that ended, never queued; not the loopback one, nor the queued one");
  assert.equal(r.e.counters.unholdable, 1);
});

test("joins: a connect's SYN and its attempt meet by destination (the source port comes only with the end), a raw SYN's by 4-tuple, in either order", () => {
  const r = rig({ limit: 1, trusted: (p) => p.name === "backup" });
  const backup = { pid: 7, name: "backup" };
  r.e.packet(r.syn(1, 40001));
  // Two held SYNs to other destinations, then the trusted one's, all before the monitor speaks.
  r.e.packet({ ...r.syn(2, 40002), daddr: "198.18.1.2" });
  r.e.packet({ ...r.syn(3, 40003), daddr: "198.18.1.3" });
  const a3 = r.attempt(40003, backup);
  a3.dst = { address: "198.18.1.3", port: 80 };
  r.e.started(a3, r.ctx);
  assert.deepEqual(r.given.get(3), [true], "the trusted SYN to 198.18.1.3 was found by its destination and let go");
  assert.equal(r.given.has(2), false);
  const raw = rig({ limit: 1, portKnownAtStart: true });
  const first = raw.attempt(41000, P);
  raw.e.started(first, raw.ctx);
  raw.e.started(raw.attempt(41001, P), raw.ctx);
  raw.e.packet(raw.syn(2, 41001));
  raw.e.packet(raw.syn(1, 41000));
  assert.deepEqual(raw.order, [2], "41001's SYN came first and took the slot, though 41000 started first");
  raw.end(first, "aborted");
  assert.deepEqual(raw.given.get(1), [false], "41000's end found its own held SYN by 4-tuple (not 41001's slot)");
  assert.equal(raw.e.counters.inFlight, 1);
});

test("the queue's own thread: SYNs it let go within fastFree() are only counted; nothing is granted while anything is held, or for scopes that need the process", () => {
  const r = rig({ limit: 2 });
  assert.equal(r.e.fastFree(), 2);
  r.e.packet(r.syn(1, 40001), true);
  r.e.packet(r.syn(2, 40002), true);
  assert.equal(r.given.size, 0, "no verdict for what is already gone");
  assert.equal(r.e.counters.inFlight, 2);
  assert.equal(r.e.fastFree(), 0);
  r.e.packet(r.syn(3, 40003));
  assert.equal(r.given.has(3), false, "held");
  r.end(r.attempt(40001, P), "refused");
  assert.deepEqual(r.given.get(3), [true]);
  assert.equal(r.e.fastFree(), 0, "two in flight again");
  r.end(r.attempt(40002, P), "refused");
  assert.equal(r.e.fastFree(), 1);
  assert.equal(r.e.counters.overGranted, 0);
  assert.equal(rig({ limit: 2, per: "process" }).e.fastFree(), 0);
  assert.equal(rig({ limit: 2, containLimit: 1 }).e.fastFree(), 0);
});

test("a slot freed in a batch of ends goes to the next held attempt only after the batch: held attempts whose program gave up in it leave the queue", () => {
  const r = rig({ limit: 2 });
  const a = [1, 2, 3, 4, 5].map((i) => r.attempt(40000 + i, P));
  for (const [i, x] of a.entries()) {
    r.e.started(x, r.ctx);
    r.e.packet(r.syn(i + 1, 40001 + i));
  }
  // The program's timeout closes all five at once: one batch of five ends.
  for (const x of a) {
    x.outcome = "aborted";
    x.src.port = x.id;
    r.e.ended(x);
  }
  r.e.tick(r.clock.now());
  assert.deepEqual(r.order, [1, 2], "no dead attempt took a freed slot");
  assert.deepEqual([3, 4, 5].map((i) => r.given.get(i)), [[false], [false], [false]]);
  assert.equal(r.e.counters.abandoned, 3);
  assert.equal(r.e.counters.inFlight, 0);
  assert.equal(r.e.fastFree(), 2);
});

test("unheld is judged by how far the queue has been read, not by how late this thread reads it", () => {
  const r = rig({ limit: 1 });
  const early = r.attempt(40001, P);
  r.e.started(early, r.ctx); // started at 0; its SYN never comes
  r.clock.run(1200);
  const late = r.attempt(40002, P);
  late.startedAt = 1200;
  r.e.started(late, r.ctx);
  r.e.tick(1300);
  assert.equal(r.e.counters.unqueued, 0, "the queue has not been read past either yet: this thread may only be behind");
  r.e.queueReadAt(1500);
  r.e.tick(1500);
  assert.equal(r.e.counters.unqueued, 1, "read 1.5 s past the first one's start: it went unheld");
  r.e.packet(r.syn(2, 40002));
  r.e.queueReadAt(3000);
  r.e.tick(3000);
  assert.equal(r.e.counters.unqueued, 1, "the second one's SYN came");
});

test("a released attempt whose end is never seen gives its slot back after maxSlotMs (looked for once a second)", () => {
  const r = rig({ limit: 1, maxSlotMs: 10_000 });
  r.e.packet(r.syn(1, 40001));
  r.e.packet(r.syn(2, 40002));
  r.e.tick(5000);
  assert.equal(r.given.has(2), false);
  r.clock.run(10_500);
  r.e.tick(10_500);
  assert.deepEqual(r.given.get(2), [true], "the lost attempt's slot went to the held one");
  assert.equal(r.e.counters.expired, 1);
});
