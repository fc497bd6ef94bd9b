/**
 * A network scan under a half-open policy, as a discrete-event simulation
 * (SimClock): does the XP limit slow a scan, and does it make the scan miss
 * hosts? Pure and deterministic for a seed.
 *
 * The program runs `threads` workers; each takes the next target and makes
 * up to 1 + `retries` connect attempts. An attempt to a live host is answered
 * `rttMs` after it really starts; one to a dead host never is, and holds its
 * slot for `timeoutMs` from its start (the connect timeout). A program may
 * also give up `programTimeoutMs` after its connect() call, wherever the
 * attempt is then (a naive scanner's own timer). The policy is a gate
 * (gate.ts): under an OS policy (xp, xp-rate, per-process, williamson,
 * credit) the program's timer starts at connect(), so time in the queue eats
 * it and a live host can be reported dead (what the scanner vendors of the
 * seeds saw); under halfopen the timer starts when the slot is granted.
 *
 * Round-trip times are `rttMs`, or drawn per live target from [rttMs,
 * rttMaxMs]. With `discovery`, the scan first pings every target at once
 * (ICMP: no half-open slot, and XP's limit never applied to it); a live
 * target answers after its round trip and only then is connect-scanned, a
 * dead one is done when the ping times out. Every live host answers pings in
 * this model (none drops ICMP).
 */
import { type GateTicket, type SimPolicy, checkPolicy, makeGate } from "./gate.js";
import { SimClock } from "./sim-clock.js";

/** Any gate policy (gate.ts). */
export type ScanPolicy = SimPolicy;

export interface ScanSimSpec {
  targets: number;
  /** Share of targets that are alive (answer), 0 to 1. */
  alive: number;
  /** Round-trip time to a live host, ms. Default 10. */
  rttMs?: number;
  /** With this, each live host's round trip is drawn from [rttMs, rttMaxMs]. */
  rttMaxMs?: number;
  /** Ping every target first (no half-open slot); only those that answer are connect-scanned. */
  discovery?: { timeoutMs: number };
  /** How long an unanswered attempt holds its slot from its start (the connect timeout), ms. */
  timeoutMs: number;
  /** The program's own timer, ms: from connect() under none and xp, from the grant under halfopen. Default: none. */
  programTimeoutMs?: number;
  /** Attempts again after a timeout. Default 0. */
  retries?: number;
  /** Connects the program makes at once. Default: every target at once. */
  threads?: number;
  policy: ScanPolicy;
  /** Which targets are alive is drawn from this seed. Default 1. */
  seed?: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ScanSimResult {
  policy: ScanPolicy;
  /** From the first connect to the last target's result, ms. */
  completionMs: number;
  attempts: number;
  aliveTargets: number;
  /** Live targets found. */
  found: number;
  /** Live targets reported dead: every attempt timed out, some of it spent waiting for a slot. */
  missed: number;
  /** Time attempts waited for a slot, ms. */
  queueDelayMs: Percentiles;
  /** Moments XP would have logged Event 4226 (an attempt had to wait while none was waiting). */
  limitEvents: number;
  maxInFlight: number;
  /** Williamson: times the delay queue grew past its alarm length. */
  alarms: number;
  /** Results per second over the whole scan. */
  targetsPerSecond: number;
  /** Targets with a result over time (ms): one point per result. */
  progress: { t: number; done: number }[];
}

/** A small deterministic generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The empirical distribution as `steps` + 1 points (q from 0 to 1, the value at each): a CDF to plot. */
export function quantileCurve(values: readonly number[], steps = 100): { q: number; value: number }[] {
  if (values.length === 0) return [];
  const s = [...values].sort((a, b) => a - b);
  return Array.from({ length: steps + 1 }, (_, i) => {
    const q = i / steps;
    return { q, value: s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number };
  });
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] as number };
}

/** Checks a spec; throws a RangeError naming what is wrong. */
export function checkScanSpec(spec: ScanSimSpec): void {
  const bad = (what: string) => {
    throw new RangeError(what);
  };
  if (!Number.isInteger(spec.targets) || spec.targets < 0) bad(`Cannot simulate ${spec.targets} targets: expected a whole number of at least 0`);
  if (!(spec.alive >= 0 && spec.alive <= 1)) bad(`Cannot use alive ${spec.alive}: expected a share from 0 to 1`);
  if (!(spec.timeoutMs > 0)) bad(`Cannot use a timeout of ${spec.timeoutMs} ms: expected more than 0`);
  if (spec.programTimeoutMs !== undefined && !(spec.programTimeoutMs > 0)) bad(`Cannot use a program timeout of ${spec.programTimeoutMs} ms: expected more than 0`);
  if (spec.threads !== undefined && !(Number.isInteger(spec.threads) && spec.threads >= 1)) bad(`Cannot use ${spec.threads} threads: expected a whole number of at least 1`);
  if (spec.rttMaxMs !== undefined && !(spec.rttMaxMs >= (spec.rttMs ?? 10))) bad(`Cannot use a longest round trip of ${spec.rttMaxMs} ms: expected at least the shortest (${spec.rttMs ?? 10} ms)`);
  if (spec.discovery !== undefined && !(spec.discovery.timeoutMs > 0)) bad(`Cannot use a discovery timeout of ${spec.discovery.timeoutMs} ms: expected more than 0`);
  checkPolicy(spec.policy);
}

export function simulateScan(spec: ScanSimSpec): ScanSimResult {
  checkScanSpec(spec);
  const clock = new SimClock();
  const retries = spec.retries ?? 0;
  const random = seededRandom(spec.seed ?? 1);
  const alive = Array.from({ length: spec.targets }, () => random() < spec.alive);
  // Round trips from their own generator, so that which targets are alive does not depend on them.
  const rttRandom = seededRandom((spec.seed ?? 1) ^ 0x5bd1e995);
  const rttMin = spec.rttMs ?? 10;
  const rtts = Array.from({ length: spec.targets }, () => (spec.rttMaxMs === undefined ? rttMin : rttMin + rttRandom() * (spec.rttMaxMs - rttMin)));
  const policy = spec.policy;
  const gate = makeGate(policy, clock);
  const programTimeout = spec.programTimeoutMs ?? Number.POSITIVE_INFINITY;
  const delays: number[] = [];
  let attempts = 0;
  let found = 0;
  let missed = 0;
  let lastResult = 0;
  const progress: { t: number; done: number }[] = [{ t: 0, done: 0 }];

  /** One attempt at target `i`; `done(answered)` once it ends. */
  const attempt = (i: number, done: (answered: boolean) => void) => {
    attempts++;
    const calledAt = clock.now();
    let gaveUp: { cancelled: boolean } | undefined;
    const begin = () => {
      const grantedAt = clock.now();
      delays.push(grantedAt - calledAt);
      if (gaveUp) gaveUp.cancelled = true;
      const deadline = Math.min(grantedAt + spec.timeoutMs, (gate.timerAtGrant ? grantedAt : calledAt) + programTimeout);
      const rtt = rtts[i] as number;
      const answered = alive[i] === true && grantedAt + rtt <= deadline;
      clock.at(answered ? grantedAt + rtt : Math.max(grantedAt, deadline), () => {
        gate.finish(ticket, answered);
        done(answered);
      });
    };
    // The program's own timer, from connect(): if it runs out while the attempt still waits, the OS drops it.
    if (!gate.timerAtGrant && Number.isFinite(programTimeout)) {
      const timer = { cancelled: false };
      gaveUp = timer;
      clock.at(calledAt + programTimeout, () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        gate.cancel(ticket);
        delays.push(clock.now() - calledAt);
        done(false);
      });
    }
    const ticket: GateTicket = gate.request({ process: "scanner", destination: `t${i}`, start: begin });
  };

  const result = () => {
    lastResult = clock.now();
    progress.push({ t: lastResult, done: progress.length });
  };
  // Targets ready for their connects; workers with nothing to do wait for the next one.
  const ready: number[] = [];
  let readyHead = 0;
  let idle = 0;
  const worker = () => {
    if (readyHead >= ready.length) {
      idle++;
      return;
    }
    const i = ready[readyHead++] as number;
    let tries = 0;
    const go = () => {
      tries++;
      attempt(i, (answered) => {
        if (answered) found++;
        else if (tries <= retries) {
          go();
          return;
        } else if (alive[i]) missed++;
        result();
        worker();
      });
    };
    go();
  };
  const enqueue = (i: number) => {
    ready.push(i);
    if (idle > 0) {
      idle--;
      worker();
    }
  };
  if (spec.discovery) {
    const pingTimeout = spec.discovery.timeoutMs;
    for (let i = 0; i < spec.targets; i++) {
      if (alive[i]) clock.at(rtts[i] as number, () => enqueue(i));
      else clock.at(pingTimeout, result);
    }
  } else {
    for (let i = 0; i < spec.targets; i++) ready.push(i);
  }
  const threads = Math.min(spec.threads ?? spec.targets, spec.targets);
  for (let t = 0; t < threads; t++) worker();
  clock.run();
  const aliveTargets = alive.filter(Boolean).length;
  return {
    policy,
    completionMs: lastResult,
    attempts,
    aliveTargets,
    found,
    missed,
    queueDelayMs: percentiles(delays),
    limitEvents: gate.stats().limitEvents,
    maxInFlight: gate.stats().maxInFlight,
    alarms: gate.stats().alarms,
    targetsPerSecond: lastResult > 0 ? spec.targets / (lastResult / 1000) : 0,
    progress,
  };
}
