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
 * attempt is then (a naive scanner's own timer). Policies:
 *
 *   none      no limit: every attempt starts at once
 *   xp        Windows XP SP2: at most `limit` attempts in flight host-wide; the rest wait
 *             in the OS's queue, a freed slot going to the next in line. The program's own
 *             timer started at connect(), so time in the queue eats it, and a live host can
 *             be reported dead (what the scanner vendors of the seeds saw)
 *   xp-rate   the same, but queued attempts leave the queue no faster than
 *             `releasePerSecond` (the other reading of XP; Microsoft never said which)
 *   halfopen  halfopen's own HalfOpenBudget in the program: at most `limit` in flight, and
 *             the program's timer starts when the slot is granted, so waiting never costs a host
 *
 * xp, xp-rate and halfopen all run halfopen's HalfOpenBudget on the virtual
 * clock (the OS queue of XP is the same FIFO; what differs is when the
 * program's timer starts). "4226 events" counts the times an attempt had to
 * wait while none was waiting: the moments XP would have logged Event 4226.
 */
import { HalfOpenBudget, type Lease } from "../half-open-budget.js";
import { SimClock } from "./sim-clock.js";

export type ScanPolicy = { kind: "none" } | { kind: "xp"; limit: number } | { kind: "xp-rate"; limit: number; releasePerSecond: number } | { kind: "halfopen"; limit: number };

export interface ScanSimSpec {
  targets: number;
  /** Share of targets that are alive (answer), 0 to 1. */
  alive: number;
  /** Round-trip time to a live host, ms. Default 10. */
  rttMs?: number;
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
  /** Results per second over the whole scan. */
  targetsPerSecond: number;
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
  if ("limit" in spec.policy && !(Number.isInteger(spec.policy.limit) && spec.policy.limit >= 1)) bad(`Cannot use limit ${spec.policy.limit}: expected a whole number of at least 1`);
}

export function simulateScan(spec: ScanSimSpec): ScanSimResult {
  checkScanSpec(spec);
  const clock = new SimClock();
  const rtt = spec.rttMs ?? 10;
  const retries = spec.retries ?? 0;
  const random = seededRandom(spec.seed ?? 1);
  const alive = Array.from({ length: spec.targets }, () => random() < spec.alive);
  const policy = spec.policy;
  const budget =
    policy.kind === "none"
      ? undefined
      : new HalfOpenBudget({ maxHalfOpen: policy.limit, clock, ...(policy.kind === "xp-rate" ? { releasePerSecond: policy.releasePerSecond } : {}) });
  const timerAtCall = policy.kind === "xp" || policy.kind === "xp-rate";
  const programTimeout = spec.programTimeoutMs ?? Number.POSITIVE_INFINITY;
  const delays: number[] = [];
  let attempts = 0;
  let found = 0;
  let missed = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let limitEvents = 0;
  let lastResult = 0;
  let next = 0;

  /** One attempt at target `i`; `done(answered)` once it ends. */
  const attempt = (i: number, done: (answered: boolean) => void) => {
    attempts++;
    const calledAt = clock.now();
    const begin = (lease?: Lease) => {
      const grantedAt = clock.now();
      delays.push(grantedAt - calledAt);
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      const deadline = Math.min(grantedAt + spec.timeoutMs, (timerAtCall ? calledAt : grantedAt) + programTimeout);
      const answered = alive[i] === true && grantedAt + rtt <= deadline;
      clock.at(answered ? grantedAt + rtt : Math.max(grantedAt, deadline), () => {
        inFlight--;
        lease?.release();
        done(answered);
      });
    };
    if (!budget) {
      begin();
      return;
    }
    if (budget.queued === 0 && budget.inFlight >= (policy as { limit: number }).limit) limitEvents++;
    budget.request({
      start: begin,
      // XP: the program gives up on a queued attempt when its timer runs out; the OS drops it from the queue.
      reject: () => {
        delays.push(clock.now() - calledAt);
        done(false);
      },
      ...(timerAtCall && Number.isFinite(programTimeout) ? { maxQueueMs: programTimeout } : {}),
    });
  };

  const worker = () => {
    if (next >= spec.targets) return;
    const i = next++;
    let tries = 0;
    const go = () => {
      tries++;
      attempt(i, (answered) => {
        if (answered) found++;
        else if (tries <= retries) {
          go();
          return;
        } else if (alive[i]) missed++;
        lastResult = clock.now();
        worker();
      });
    };
    go();
  };
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
    limitEvents,
    maxInFlight,
    targetsPerSecond: lastResult > 0 ? spec.targets / (lastResult / 1000) : 0,
  };
}
