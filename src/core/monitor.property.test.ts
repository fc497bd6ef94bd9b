import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isOutput, HalfOpenMonitor, type MonitorOutput } from "./monitor.js";
import type { IncidentReport } from "./incident.js";
import { TcpState } from "./tcp-state.js";
import { proc } from "../../test/support/events.js";
import { type Endpoint, EndpointMemo, keyedEndpoint } from "./endpoint.js";

type Step =
  | { kind: "connect"; pid: number; port: number; reuse: boolean; slot: number | undefined }
  | { kind: "leave"; pick: number; state: number; irq: boolean; reset: boolean }
  | { kind: "exit"; pid: number }
  | { kind: "advance"; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("connect" as const), pid: fc.integer({ min: 1, max: 4 }), port: fc.integer({ min: 1, max: 20 }), reuse: fc.boolean(), slot: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("leave" as const), pick: fc.nat(), state: fc.constantFrom(TcpState.ESTABLISHED, TcpState.CLOSE), irq: fc.boolean(), reset: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("exit" as const), pid: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
);

test("monitor invariants hold for any event order", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 300 }), fc.integer({ min: 0, max: 8 }), (steps, limit) => {
      const m = new HalfOpenMonitor({ limit, quietMs: 1000, maxAgeMs: 20_000 });
      const live = new Map<string, number>(); // sock -> pid, our model of SYN_SENT
      // sock -> the slot its events carry (few slots: sockets share them, some while both are half-open)
      const slots = new Map<string, number | undefined>();
      let now = 0;
      let sockSeq = 0;
      let open: number | undefined;
      const closed: IncidentReport[] = [];
      const onOutputs = (outs: readonly MonitorOutput[]) => {
        for (const o of outs) {
          if (isOutput(o, "incident-open")) {
            assert.equal(open, undefined, "one incident at a time");
            assert.ok(o.incident.peak > limit);
            open = o.incident.id;
          } else if (isOutput(o, "incident")) {
            assert.equal(o.incident.id, open);
            open = undefined;
            closed.push(o.incident);
          }
        }
      };
      for (const s of steps) {
        if (s.kind === "connect") {
          const reuse = s.reuse && live.size > 0;
          const sk = reuse ? ([...live.keys()][0] as string) : `s${++sockSeq}`;
          // A new attempt on a reused socket starts now: last in start order.
          live.delete(sk);
          live.set(sk, s.pid);
          if (!reuse) slots.set(sk, s.slot);
          const slot = slots.get(sk);
          onOutputs(m.handle({ type: "connect", time: now, sock: sk, ...(slot === undefined ? {} : { slot }), pid: s.pid, family: 4, src: { address: "198.18.0.1", port: 0 }, dst: { address: "198.18.0.1", port: s.port }, process: proc(s.pid) }));
        } else if (s.kind === "leave") {
          const keys = [...live.keys()];
          const sk = keys.length > 0 ? (keys[s.pick % keys.length] as string) : "nope";
          const slot = slots.get(sk);
          const slotted = slot === undefined ? {} : { slot };
          if (s.reset) m.handle({ type: "reset", time: now, sock: sk, ...slotted });
          live.delete(sk);
          onOutputs(m.handle({ type: "leave", time: now, sock: sk, ...slotted, newState: s.state, inInterrupt: s.irq }));
        } else if (s.kind === "exit") {
          onOutputs(m.handle({ type: "exit", time: now, pid: s.pid, name: "x" }));
        } else {
          now += s.ms;
          const before = m.tracker.halfOpen;
          onOutputs(m.tick(now));
          // expiry may end attempts our model still holds
          if (m.tracker.halfOpen !== before) for (const sk of [...live.keys()]) if (![...m.tracker.pending()].some((a) => a.sock === sk)) live.delete(sk);
        }
        assert.equal(m.tracker.halfOpen, live.size, "half-open count matches the model");
        assert.deepEqual(
          [...m.tracker.pending()].map((a) => a.sock),
          [...live.keys()],
          "the pending attempts, oldest first",
        );
        assert.equal(
          m.tracker.perProcess().reduce((n, r) => n + r.halfOpen, 0),
          m.tracker.halfOpen,
          "per-process counts sum to the host count",
        );
        if (open === undefined) assert.equal(m.openIncident, undefined);
        else {
          // Every attempt half-open while an incident is open is one of its own (pending at the open, or started since).
          const r = m.openIncident as IncidentReport;
          assert.equal(r.outcomes.pending, live.size, "the open incident's pending attempts are the host's");
          for (const p of r.processes) assert.equal(p.halfOpen, m.tracker.halfOpenOf(p.processKey), "and each process's");
        }
      }
      onOutputs(m.flush(now));
      const t = m.totals();
      const ended = t.outcomes.established + t.outcomes.refused + t.outcomes.timeout + t.outcomes["dropped-locally"] + t.outcomes.aborted + t.outcomes.unknown;
      assert.equal(ended + t.outcomes.pending, t.attempts, "every attempt ends at most once");
      for (const i of closed) {
        const o = i.outcomes;
        assert.equal(o.pending + o.established + o.refused + o.timeout + o["dropped-locally"] + o.aborted + o.unknown, i.attempts);
        assert.equal(
          i.processes.reduce((n, p) => n + p.attempts, 0),
          i.attempts,
        );
        assert.ok(i.processes.every((p) => p.peakHalfOpen <= i.peak));
      }
      assert.equal(closed.length, t.incidents);
    }),
    { numRuns: 300 },
  );
});

test("an incident counts destinations the same whether a source's endpoints carry their key and cache slot or are plain objects", () => {
  // Ports beyond the incident's 4096 cache slots: keyed endpoints collide there (their ids are global), and a miss
  // falls back to the map.
  const attempt = fc.record({ pid: fc.integer({ min: 1, max: 3 }), port: fc.integer({ min: 1, max: 6000 }), end: fc.boolean() });
  fc.assert(
    fc.property(fc.array(attempt, { minLength: 1, maxLength: 400 }), (attempts) => {
      const memo = new EndpointMemo<Endpoint>(keyedEndpoint);
      const run = (keyed: boolean) => {
        const m = new HalfOpenMonitor({ limit: 0, quietMs: 1000 });
        let opened: IncidentReport | undefined;
        attempts.forEach((a, i) => {
          const dst = keyed ? memo.get("198.18.0.1", a.port) : { address: "198.18.0.1", port: a.port };
          m.handle({ type: "connect", time: i, sock: `s${i}`, pid: a.pid, family: 4, src: { address: "198.18.0.2", port: 1000 + i }, dst, process: proc(a.pid) });
          if (a.end) m.handle({ type: "leave", time: i + 0.5, sock: `s${i}`, newState: TcpState.CLOSE, inInterrupt: false });
        });
        for (const o of m.flush(attempts.length)) if (isOutput(o, "incident")) opened = o.incident;
        return opened;
      };
      const plain = run(false);
      assert.ok(plain);
      assert.deepEqual(run(true), plain);
    }),
    { numRuns: 50 },
  );
  // More distinct destinations than the cache has slots, each met again later: slots are shared and overwritten.
  const many = Array.from({ length: 12_000 }, (_, i) => ({ pid: 1 + (i % 2), port: 1 + ((i * 7919) % 5000), end: i % 3 === 0 }));
  const memo = new EndpointMemo<Endpoint>(keyedEndpoint);
  const report = (keyed: boolean) => {
    const m = new HalfOpenMonitor({ limit: 0, quietMs: 1000 });
    many.forEach((a, i) => m.handle({ type: "connect", time: i, sock: `s${i}`, pid: a.pid, family: 4, src: { address: "198.18.0.2", port: 1 }, dst: keyed ? memo.get("198.18.0.1", a.port) : { address: "198.18.0.1", port: a.port }, process: proc(a.pid) }));
    return m.flush(many.length).find((o) => isOutput(o, "incident"));
  };
  assert.deepEqual(report(true), report(false));
});
