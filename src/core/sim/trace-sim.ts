/**
 * Your own traffic under a policy: the connect attempts of a capture
 * recorded with `watch --record` replayed through a gate, to see what the XP
 * limit (or a throttle) would have done to them: who would have waited, how
 * long, and when XP would have logged Event 4226. Pure.
 *
 * Each recorded attempt is asked for at its recorded time and, once the gate
 * lets it start, holds its slot as long as it did in the capture (answered
 * after its recorded time, or failed after it). Open loop: a delay does not
 * push the program's later attempts back. That is exact for programs that
 * fire their connects and wait for none of them (scanners, worms, browsers
 * opening a page's connections), and underestimates the delay for a program
 * that waits for one attempt before it makes the next.
 */
import { formatEndpoint } from "../endpoint.js";
import type { ConnectionEvent } from "../events.js";
import { type SimPolicy, makeGate, type GateTicket } from "./gate.js";
import { type Percentiles, percentiles, quantileCurve } from "./scan-sim.js";
import { SimClock } from "./sim-clock.js";

export interface TraceAttempt {
  pid: number;
  name: string;
  destination: string;
  /** When it was asked for, ms from the capture's first attempt. */
  atMs: number;
  /** How long it stayed half-open in the capture, ms. */
  holdMs: number;
  /** It became ESTABLISHED (false: refused, timed out, given up, or still open at the end). */
  answered: boolean;
  /** Still half-open when the capture ended. */
  unfinished: boolean;
}

/**
 * The attempts of a capture: each connect paired with the event that took
 * its socket out of SYN_SENT. Attempts still open at `endTime` (default: the
 * last event) hold until then.
 */
export function attemptsFromEvents(events: readonly ConnectionEvent[], endTime?: number): TraceAttempt[] {
  const open = new Map<string, { a: TraceAttempt; time: number }>();
  const out: TraceAttempt[] = [];
  let first: number | undefined;
  let last = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    last = Math.max(last, e.time);
    if (e.type === "connect") {
      first ??= e.time;
      const a: TraceAttempt = { pid: e.pid, name: e.process.name, destination: formatEndpoint(e.dst), atMs: e.time - first, holdMs: 0, answered: false, unfinished: true };
      open.set(e.sock, { a, time: e.time });
      out.push(a);
    } else if (e.type === "leave") {
      const o = open.get(e.sock);
      if (!o) continue;
      open.delete(e.sock);
      o.a.holdMs = Math.max(0, e.time - o.time);
      o.a.answered = e.newState === 1;
      o.a.unfinished = false;
    }
  }
  const end = endTime ?? last;
  for (const o of open.values()) o.a.holdMs = Math.max(0, end - o.time);
  out.sort((x, y) => x.atMs - y.atMs);
  return out;
}

export interface TraceProcessResult {
  pid: number;
  name: string;
  attempts: number;
  /** Attempts that had to wait. */
  waited: number;
  queueDelayMs: Percentiles;
  /** When its last attempt ended, ms after the capture's first attempt: recorded, and under the policy. */
  lastEndMs: { recorded: number; simulated: number };
}

export interface TraceSimResult {
  policy: SimPolicy;
  attempts: number;
  /** Most attempts half-open at once in the capture, and under the policy. */
  peakInFlight: { recorded: number; simulated: number };
  queueDelayMs: Percentiles;
  /** The queue delays' distribution (q, ms): a CDF to plot. */
  queueDelayCurve: { q: number; value: number }[];
  waited: number;
  /** Moments XP would have logged Event 4226. */
  limitEvents: number;
  alarms: number;
  /** Processes by attempts, most first. */
  processes: TraceProcessResult[];
}

/** Most intervals [at, at + hold) overlapping at once. */
function peakOverlap(spans: { start: number; end: number }[]): number {
  const points: [number, number][] = [];
  for (const s of spans) points.push([s.start, 1], [s.end, -1]);
  // Ends before starts at the same time: a slot freed at t is free for an attempt at t.
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of points) {
    now += d;
    if (now > peak) peak = now;
  }
  return peak;
}

export function simulateTrace(attempts: readonly TraceAttempt[], policy: SimPolicy): TraceSimResult {
  const clock = new SimClock();
  const gate = makeGate(policy, clock);
  const delays: number[] = [];
  const perProcess = new Map<number, { name: string; delays: number[]; recordedEnd: number; simulatedEnd: number }>();
  const spans: { start: number; end: number }[] = [];
  for (const a of attempts) {
    let p = perProcess.get(a.pid);
    if (!p) {
      p = { name: a.name, delays: [], recordedEnd: 0, simulatedEnd: 0 };
      perProcess.set(a.pid, p);
    }
    p.recordedEnd = Math.max(p.recordedEnd, a.atMs + a.holdMs);
    const proc = p;
    clock.at(a.atMs, () => {
      const ticket: GateTicket = gate.request({
        process: String(a.pid),
        destination: a.destination,
        start: () => {
          const startedAt = clock.now();
          const wait = startedAt - a.atMs;
          delays.push(wait);
          proc.delays.push(wait);
          spans.push({ start: startedAt, end: startedAt + a.holdMs });
          clock.setTimer(() => {
            gate.finish(ticket, a.answered);
            proc.simulatedEnd = Math.max(proc.simulatedEnd, clock.now());
          }, a.holdMs);
        },
      });
    });
  }
  clock.run();
  const stats = gate.stats();
  const processes: TraceProcessResult[] = [...perProcess.entries()]
    .map(([pid, p]) => ({
      pid,
      name: p.name,
      attempts: p.delays.length,
      waited: p.delays.filter((d) => d > 0).length,
      queueDelayMs: percentiles(p.delays),
      lastEndMs: { recorded: p.recordedEnd, simulated: p.simulatedEnd },
    }))
    .sort((x, y) => y.attempts - x.attempts || x.pid - y.pid);
  return {
    policy,
    attempts: attempts.length,
    peakInFlight: { recorded: peakOverlap(attempts.map((a) => ({ start: a.atMs, end: a.atMs + a.holdMs }))), simulated: peakOverlap(spans) },
    queueDelayMs: percentiles(delays),
    queueDelayCurve: quantileCurve(delays),
    waited: delays.filter((d) => d > 0).length,
    limitEvents: stats.limitEvents,
    alarms: stats.alarms,
    processes,
  };
}
