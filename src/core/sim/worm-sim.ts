/**
 * A random-scanning worm over a population, stepped in time: does the XP
 * limit, or Williamson's throttle, on a share of the hosts slow its spread?
 * Pure and deterministic for a seed; a million vulnerable hosts take well
 * under a second.
 *
 * Each infected host probes addresses drawn uniformly from `addressSpace`
 * (2^32). In a step of `stepMs`, the infected hosts' probes hit each
 * still-vulnerable host with probability vulnerable/addressSpace per probe:
 * the new infections are drawn from a Poisson law with that mean (capped by
 * the hosts left). An infected host that runs the policy (`share` of them,
 * drawn at infection) probes no faster than the policy lets it:
 *
 *   none                      scanRate
 *   xp, per-process, halfopen min(scanRate, limit / timeout): nearly every probe goes to an address
 *                             that never answers and holds one of the `limit` slots for the whole
 *                             timeout (XP: 3 + 6 + 12 = 21 s of SYN retries), so 10 slots give
 *                             10/21 ≈ 0.48 probes/s (a worm is one process: per-process is the same)
 *   xp-rate                   min(scanRate, releasePerSecond): the queue drains at its fixed rate
 *                             whatever is in flight, so a worm slower than that is not slowed
 *   williamson                min(scanRate, 1): one new destination a second leaves the delay queue
 *   credit                    min(scanRate, 1 / 4 s): the balance of 10 is spent in the first
 *                             second; then, with every first contact failing, one credit comes
 *                             back after 4 s at 0 (Schechter, Jung, Berger 2004)
 *
 * These rates are what the gates of gate.ts let through (a test checks the
 * two agree); the population model uses the closed forms so that a million
 * hosts take well under a second.
 *
 * With no policy the infected share a(t) follows the logistic
 * a = e^{K(t−T)} / (1 + e^{K(t−T)}), K = scanRate × vulnerable / addressSpace
 * (Staniford, Paxson, Weaver, "How to 0wn the Internet in Your Spare Time",
 * USENIX Security 2002); fitLogisticK() fits K to a run.
 */
import { CREDIT_DEFAULTS, WILLIAMSON_DEFAULTS } from "./gate.js";
import { seededRandom } from "./scan-sim.js";

export type WormPolicy =
  | { kind: "none" }
  | { kind: "xp" | "per-process" | "halfopen"; limit: number; timeoutMs: number }
  | { kind: "xp-rate"; limit: number; releasePerSecond: number }
  | { kind: "williamson" }
  | { kind: "credit" };

export interface WormSimSpec {
  vulnerable: number;
  /** Probes per second of an infected host. */
  scanRate: number;
  /**
   * A thread-bound worm: at most this many probes in flight per host, each to a silent address waiting
   * `probeTimeoutMs` (default 21 s), so it probes at most threads / timeout per second with no policy at all.
   */
  threads?: number;
  probeTimeoutMs?: number;
  /** Addresses probed from. Default 2^32. */
  addressSpace?: number;
  /** Infected at time 0. Default 1. */
  initialInfected?: number;
  /** Share of hosts that run the policy, 0 to 1. Default 1. */
  share?: number;
  policy: WormPolicy;
  durationMs: number;
  /** Default 1000 ms. */
  stepMs?: number;
  seed?: number;
}

export interface WormSimResult {
  /** Infected hosts at the end of each step (time in ms). */
  series: { t: number; infected: number }[];
  infected: number;
  /** Probes per second of a host that runs the policy, and of one that does not. */
  limitedRate: number;
  freeRate: number;
  /** When half, and nine tenths, of the vulnerable hosts were infected (ms), if reached. */
  halfAtMs?: number;
  ninetyAtMs?: number;
  /** K fitted to the run, per hour (fitLogisticK), when the run crossed 10% and 90%. */
  fittedKPerHour?: number;
  /** The formula's K, per hour, for hosts without the policy (at `freeRate`). */
  formulaKPerHour: number;
}

/** Probes per second a host running `policy` can make. */
export function limitedScanRate(policy: WormPolicy, scanRate: number): number {
  switch (policy.kind) {
    case "xp":
    case "per-process":
    case "halfopen":
      return Math.min(scanRate, policy.limit / (policy.timeoutMs / 1000));
    case "xp-rate":
      return Math.min(scanRate, policy.releasePerSecond);
    case "williamson":
      return Math.min(scanRate, WILLIAMSON_DEFAULTS.releasePerSecond);
    case "credit":
      return Math.min(scanRate, 1000 / CREDIT_DEFAULTS.allowanceAfterMs);
    case "none":
      return scanRate;
  }
}

/** A Poisson draw (Knuth's method for small means, a normal approximation above 50). */
function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 50) {
    const u = Math.max(Number.MIN_VALUE, random());
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + z * Math.sqrt(mean)));
  }
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/** The logistic's K (per hour) by least squares on logit(a) over the points with 0.1 ≤ a ≤ 0.9. */
export function fitLogisticK(series: { t: number; infected: number }[], vulnerable: number): number | undefined {
  const pts = series.map((p) => ({ x: p.t / 3_600_000, a: p.infected / vulnerable })).filter((p) => p.a >= 0.1 && p.a <= 0.9);
  if (pts.length < 3) return undefined;
  const ys = pts.map((p) => Math.log(p.a / (1 - p.a)));
  const mx = pts.reduce((s, p) => s + p.x, 0) / pts.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  let num = 0;
  let den = 0;
  pts.forEach((p, i) => {
    num += (p.x - mx) * ((ys[i] as number) - my);
    den += (p.x - mx) ** 2;
  });
  return den === 0 ? undefined : num / den;
}

export function simulateWorm(spec: WormSimSpec): WormSimResult {
  const space = spec.addressSpace ?? 2 ** 32;
  const step = spec.stepMs ?? 1000;
  const share = spec.share ?? 1;
  if (!(spec.vulnerable >= 1 && spec.vulnerable <= space)) throw new RangeError(`Cannot simulate ${spec.vulnerable} vulnerable hosts in an address space of ${space}`);
  if (!(spec.scanRate > 0)) throw new RangeError(`Cannot use a scan rate of ${spec.scanRate}: expected more than 0 probes per second`);
  if (!(share >= 0 && share <= 1)) throw new RangeError(`Cannot use share ${share}: expected 0 to 1`);
  if (!(spec.durationMs > 0 && step > 0)) throw new RangeError("Cannot simulate: the duration and the step must be above 0");
  if (spec.threads !== undefined && !(Number.isInteger(spec.threads) && spec.threads >= 1)) throw new RangeError(`Cannot use ${spec.threads} threads: expected a whole number of at least 1`);
  const random = seededRandom(spec.seed ?? 1);
  const freeRate = spec.threads === undefined ? spec.scanRate : Math.min(spec.scanRate, (spec.threads * 1000) / (spec.probeTimeoutMs ?? 21_000));
  const limitedRate = limitedScanRate(spec.policy, freeRate);
  const initial = Math.min(spec.initialInfected ?? 1, spec.vulnerable);
  // Infected hosts with and without the policy.
  let limited = 0;
  for (let i = 0; i < initial; i++) if (random() < share) limited++;
  let free = initial - limited;
  const series: { t: number; infected: number }[] = [{ t: 0, infected: initial }];
  let halfAtMs: number | undefined;
  let ninetyAtMs: number | undefined;
  for (let t = step; t <= spec.durationMs; t += step) {
    const infected = limited + free;
    const susceptible = spec.vulnerable - infected;
    if (susceptible <= 0) break;
    const probes = (free * freeRate + limited * limitedRate) * (step / 1000);
    // Expected distinct hits on susceptible hosts: susceptible × (1 − e^(−probes/space)).
    const mean = susceptible * -Math.expm1(-probes / space);
    const fresh = Math.min(susceptible, poisson(mean, random));
    let fromPolicy = 0;
    if (share === 1) fromPolicy = fresh;
    else if (share > 0) for (let i = 0; i < fresh; i++) if (random() < share) fromPolicy++;
    limited += fromPolicy;
    free += fresh - fromPolicy;
    const now = limited + free;
    series.push({ t, infected: now });
    if (halfAtMs === undefined && now >= spec.vulnerable / 2) halfAtMs = t;
    if (ninetyAtMs === undefined && now >= spec.vulnerable * 0.9) ninetyAtMs = t;
  }
  const fitted = fitLogisticK(series, spec.vulnerable);
  const result: WormSimResult = {
    series,
    infected: limited + free,
    limitedRate,
    freeRate,
    formulaKPerHour: ((freeRate * spec.vulnerable) / space) * 3600,
  };
  if (halfAtMs !== undefined) result.halfAtMs = halfAtMs;
  if (ninetyAtMs !== undefined) result.ninetyAtMs = ninetyAtMs;
  if (fitted !== undefined) result.fittedKPerHour = fitted;
  return result;
}
