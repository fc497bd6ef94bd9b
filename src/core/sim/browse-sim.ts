/**
 * Web browsing under a half-open policy: what does the XP limit (or a
 * throttle) cost ordinary use? Pure and deterministic for a seed.
 *
 * A browser loads `pages` pages, one every `thinkMs` on average (exponential
 * gaps). A page connects to `hostsPerPage` hosts, `connectsPerHost` connects
 * each, all at once (a browser opens several connections per host). Each host
 * is, with probability `repeat`, one of `popularHosts` common hosts (CDNs,
 * analytics: the destinations a throttle's working set remembers), otherwise
 * a host never seen before. A host answers after its round-trip time, drawn
 * once per host from [rttMinMs, rttMaxMs]. With probability `broken` a page
 * also includes one dead host (an "occasional broken site"): its connects
 * never answer and hold their slots for `timeoutMs` (XP: 21 s). A page is
 * loaded when every connect to its live hosts is answered; the dead host does
 * not count, but its attempts do occupy the policy's slots.
 */
import { type GateTicket, type SimPolicy, makeGate } from "./gate.js";
import { type Percentiles, percentiles, quantileCurve, seededRandom } from "./scan-sim.js";
import { SimClock } from "./sim-clock.js";

export interface BrowseSimSpec {
  pages: number;
  /** Mean gap between page starts, ms. Default 5000. */
  thinkMs?: number;
  /** Hosts a page connects to. Default 8. */
  hostsPerPage?: number;
  /** Connects per host. Default 2. */
  connectsPerHost?: number;
  /** Chance that a host is one of the popular hosts. Default 0.6. */
  repeat?: number;
  /** Size of the popular set. Default 20. */
  popularHosts?: number;
  /** Share of pages with one dead host, 0 to 1. Default 0.05. */
  broken?: number;
  rttMinMs?: number;
  rttMaxMs?: number;
  /** How long a connect to a dead host holds its slot, ms. Default 21,000 (XP). */
  timeoutMs?: number;
  policy: SimPolicy;
  seed?: number;
}

export interface BrowseSimResult {
  policy: SimPolicy;
  pages: number;
  /** Pages whose live hosts all answered (every page, under every policy: nothing is lost). */
  loaded: number;
  attempts: number;
  /** From a page's start to its last live connect answered, ms. */
  pageLoadMs: Percentiles;
  /** Mean page load, ms. */
  meanPageLoadMs: number;
  /** The page loads' distribution (q, ms): a CDF to plot. */
  pageLoadCurve: { q: number; value: number }[];
  /** Time attempts waited for the policy, ms. */
  queueDelayMs: Percentiles;
  /** Pages where some attempt waited. */
  pagesDelayed: number;
  limitEvents: number;
  maxInFlight: number;
  alarms: number;
}

export function simulateBrowse(spec: BrowseSimSpec): BrowseSimResult {
  const think = spec.thinkMs ?? 5000;
  const hostsPerPage = spec.hostsPerPage ?? 8;
  const perHost = spec.connectsPerHost ?? 2;
  const repeat = spec.repeat ?? 0.6;
  const popular = spec.popularHosts ?? 20;
  const broken = spec.broken ?? 0.05;
  const rttMin = spec.rttMinMs ?? 20;
  const rttMax = spec.rttMaxMs ?? 120;
  const timeout = spec.timeoutMs ?? 21_000;
  if (!(Number.isInteger(spec.pages) && spec.pages >= 0)) throw new RangeError(`Cannot load ${spec.pages} pages: expected a whole number of at least 0`);
  if (!(think > 0)) throw new RangeError(`Cannot use a think time of ${think} ms: expected more than 0`);
  if (!(Number.isInteger(hostsPerPage) && hostsPerPage >= 1 && Number.isInteger(perHost) && perHost >= 1)) throw new RangeError("Cannot simulate: hosts per page and connects per host must be whole numbers of at least 1");
  for (const [name, v] of [["repeat", repeat], ["broken", broken]] as const) if (!(v >= 0 && v <= 1)) throw new RangeError(`Cannot use ${name} ${v}: expected a share from 0 to 1`);
  if (!(rttMin >= 0 && rttMax >= rttMin)) throw new RangeError(`Cannot use round-trip times ${rttMin}-${rttMax} ms`);
  if (!(timeout > 0)) throw new RangeError(`Cannot use a timeout of ${timeout} ms: expected more than 0`);

  const clock = new SimClock();
  const random = seededRandom(spec.seed ?? 1);
  const gate = makeGate(spec.policy, clock);
  const rttOf = new Map<string, number>();
  const rtt = (host: string) => {
    let r = rttOf.get(host);
    if (r === undefined) {
      r = rttMin + random() * (rttMax - rttMin);
      rttOf.set(host, r);
    }
    return r;
  };
  const loads: number[] = [];
  const delays: number[] = [];
  let attempts = 0;
  let pagesDelayed = 0;
  let fresh = 0;

  let at = 0;
  for (let p = 0; p < spec.pages; p++) {
    // Draw the page now (the draws do not depend on the policy, so every policy sees the same pages).
    const hosts: string[] = [];
    while (hosts.length < hostsPerPage) {
      const h = random() < repeat ? `popular${Math.floor(random() * popular)}` : `site${fresh++}`;
      if (!hosts.includes(h)) hosts.push(h);
    }
    for (const h of hosts) rtt(h);
    const dead = random() < broken ? `dead${p}` : undefined;
    const startAt = at;
    at += -Math.log(1 - random()) * think;
    clock.at(startAt, () => {
      let waiting = hosts.length * perHost;
      let delayed = false;
      const connect = (host: string, live: boolean) => {
        attempts++;
        const calledAt = clock.now();
        const ticket: GateTicket = gate.request({
          process: "browser",
          destination: host,
          start: () => {
            const wait = clock.now() - calledAt;
            delays.push(wait);
            if (wait > 0) delayed = true;
            clock.setTimer(
              () => {
                gate.finish(ticket, live);
                if (!live) return;
                if (--waiting === 0) {
                  loads.push(clock.now() - startAt);
                  if (delayed) pagesDelayed++;
                }
              },
              live ? rtt(host) : timeout,
            );
          },
        });
      };
      if (dead) for (let c = 0; c < perHost; c++) connect(dead, false);
      for (const h of hosts) for (let c = 0; c < perHost; c++) connect(h, true);
    });
  }
  clock.run();
  const stats = gate.stats();
  return {
    policy: spec.policy,
    pages: spec.pages,
    loaded: loads.length,
    attempts,
    pageLoadMs: percentiles(loads),
    meanPageLoadMs: loads.length ? loads.reduce((s, x) => s + x, 0) / loads.length : 0,
    pageLoadCurve: quantileCurve(loads),
    queueDelayMs: percentiles(delays),
    pagesDelayed,
    limitEvents: stats.limitEvents,
    maxInFlight: stats.maxInFlight,
    alarms: stats.alarms,
  };
}
