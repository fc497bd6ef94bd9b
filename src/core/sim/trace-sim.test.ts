import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { ConnectionEvent } from "../events.js";
import { RecordDecoder } from "../record-format.js";
import { attemptsFromEvents, simulateTrace } from "./trace-sim.js";

/** The events of a record fixture (test/fixtures/records/README.md says how each was captured). */
function fixture(name: string): { events: ConnectionEvent[]; end?: number } {
  const decoder = new RecordDecoder();
  const events: ConnectionEvent[] = [];
  let end: number | undefined;
  for (const line of readFileSync(new URL(`../../../test/fixtures/records/${name}`, import.meta.url), "utf8").split("\n"))
    for (const item of decoder.line(line)) {
      if (item.kind === "event") events.push(item.event);
      if (item.kind === "end") end = item.time;
    }
  return { events, ...(end === undefined ? {} : { end }) };
}

describe("replaying a recorded capture under a policy", () => {
  it("pairs each connect with the event that ended it: 40 dropped connects held 1.2 s (scan.jsonl)", () => {
    const { events, end } = fixture("scan.jsonl");
    const attempts = attemptsFromEvents(events, end);
    assert.equal(attempts.length, 40);
    assert.ok(attempts.every((a) => !a.answered && !a.unfinished && a.holdMs > 1000 && a.holdMs < 2000), "held about 1.2 s, then closed unanswered");
    const none = simulateTrace(attempts, { kind: "none" });
    assert.equal(none.peakInFlight.recorded, 40);
    assert.equal(none.peakInFlight.simulated, 40);
    assert.equal(none.waited, 0);
    assert.equal(none.limitEvents, 0);
    const xp = simulateTrace(attempts, { kind: "xp", limit: 10 });
    assert.equal(xp.peakInFlight.simulated, 10);
    assert.equal(xp.waited, 30);
    assert.equal(xp.limitEvents, 1);
    const [p] = xp.processes;
    assert.equal(p?.name, "ho-scan");
    // Four rounds of ~1.2 s instead of one.
    assert.ok(p && p.lastEndMs.simulated > 3.5 * p.lastEndMs.recorded, `${p?.lastEndMs.simulated} vs ${p?.lastEndMs.recorded}`);
  });

  it("answered connects are answered (browser-burst.jsonl): 30 established, and the XP limit barely delays them", () => {
    const { events, end } = fixture("browser-burst.jsonl");
    const attempts = attemptsFromEvents(events, end);
    assert.equal(attempts.length, 30);
    assert.ok(attempts.every((a) => a.answered));
    const xp = simulateTrace(attempts, { kind: "xp", limit: 10 });
    assert.ok(xp.queueDelayMs.max < 50, `max wait ${xp.queueDelayMs.max} ms`);
  });

  it("the verdicts lab (7 processes): every attempt is replayed once under each policy, per-process counts add up; under XP the scanners make the health checker wait too", () => {
    const { events, end } = fixture("verdicts-lab.jsonl");
    const attempts = attemptsFromEvents(events, end);
    for (const policy of [{ kind: "none" }, { kind: "xp", limit: 10 }, { kind: "per-process", limit: 10 }, { kind: "williamson" }, { kind: "credit" }] as const) {
      const r = simulateTrace(attempts, policy);
      assert.equal(r.attempts, attempts.length);
      assert.equal(
        r.processes.reduce((s, p) => s + p.attempts, 0),
        attempts.length,
        policy.kind,
      );
      if (policy.kind === "xp") assert.ok(r.peakInFlight.simulated <= 10);
      const by = (name: string) => r.processes.find((p) => p.name === name);
      if (policy.kind === "none") assert.equal(r.waited, 0);
      if (policy.kind === "xp") {
        assert.equal(r.peakInFlight.recorded, 99);
        assert.ok((by("wl-health")?.queueDelayMs.max ?? 0) > 10_000, "the limit is host-wide: nmap's dropped SYNs hold the health checker's slots");
      }
      if (policy.kind === "credit") assert.ok((by("nmap")?.waited ?? 0) > 400, "nmap's failing first contacts run out of credit");
    }
  });
});
