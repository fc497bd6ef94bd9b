/**
 * The port-checking stage of a scan: every port of a host is a connect
 * (probe.ts) inside the scan's one HalfOpenBudget, retried after silence and
 * after local errors, timed by nmap's RTT estimator (per host, with the
 * scan-wide one as fallback). A host that discovery did not find up is first
 * checked on the discovery ports (nmap's unprivileged ping).
 */
import type { HalfOpenBudget } from "../core/half-open-budget.js";
import { RttEstimator, outcomeOf, type RttOptions } from "../core/scan/timing.js";
import { probe, type ProbeResult } from "./probe.js";
import { DISCOVERY_PORTS } from "./raw-discovery.js";
import type { HostResult, PortResult, ScanSummary } from "./types.js";

/** How discovery found a host up (undefined: not found yet, check the discovery ports). */
export type Found = { reason: string; rttMs?: number } | undefined;

export interface HostCheckOptions {
  budget: HalfOpenBudget;
  ports: readonly number[];
  /** Attempts again after silence. */
  retries: number;
  /** Attempts again after a local error (EMFILE, ...). */
  localRetries: number;
  /** Probes in flight per host. */
  perHost: number;
  rtt: RttOptions;
  bannerMs?: number;
  signal: AbortSignal;
  /** The scan-wide estimate, sampled by every host. */
  scanWide: RttEstimator;
  /** Counters it advances (probes, retries, localErrors). */
  summary: Pick<ScanSummary, "probes" | "retries" | "localErrors">;
}

export class HostCheck {
  readonly #o: HostCheckOptions;

  constructor(options: HostCheckOptions) {
    this.#o = options;
  }

  /** One port, with retries: its final result. */
  async port(address: string, family: 4 | 6, port: number, est: RttEstimator): Promise<PortResult> {
    const o = this.#o;
    let silent = 0;
    let local = 0;
    let last: ProbeResult | undefined;
    for (;;) {
      if (o.signal.aborted) return { port, state: "unknown", reason: "aborted" };
      o.summary.probes++;
      last = await probe({ budget: o.budget, address, family, port, timeoutMs: () => est.timeoutMs(o.scanWide), signal: o.signal, ...(o.bannerMs !== undefined ? { bannerMs: o.bannerMs } : {}) });
      if (last.code === "ABORTED") return { port, state: "unknown", reason: "aborted" };
      const outcome = outcomeOf(last.code);
      if (outcome.kind === "final") {
        const answered = outcome.state === "open" || outcome.state === "closed";
        if (answered) {
          est.sample(last.rttMs);
          if (est !== o.scanWide) o.scanWide.sample(last.rttMs);
        }
        return { port, state: outcome.state, reason: outcome.reason, ...(answered ? { rttMs: last.rttMs } : {}), ...(last.banner !== undefined ? { banner: last.banner } : {}) };
      }
      if (outcome.kind === "silent") {
        if (silent++ >= o.retries) return { port, state: "filtered", reason: "no-response" };
      } else {
        o.summary.localErrors++;
        if (local++ >= o.localRetries) return { port, state: "unknown", reason: outcome.reason };
        // Back off: something else must free the descriptor, port or buffer.
        await new Promise((r) => setTimeout(r, 50 * 2 ** local));
      }
      o.summary.retries++;
    }
  }

  /** A whole host: `found` when discovery already answered (raw or ping socket, or -Pn), else its discovery ports first. */
  async host(address: string, family: 4 | 6, names: string[] | undefined, found: Found): Promise<HostResult> {
    const o = this.#o;
    const hostStarted = Date.now();
    const est = new RttEstimator(o.rtt);
    if (found?.rttMs !== undefined) est.sample(found.rttMs);
    const results = new Map<number, PortResult>();
    let status: "up" | "down" = "up";
    let reason = found?.reason ?? "user-set";
    if (!found) {
      const pings = await Promise.all(DISCOVERY_PORTS.map((port) => this.port(address, family, port, est)));
      const answered = pings.find((p) => p.state === "open" || p.state === "closed");
      if (answered) {
        reason = answered.reason;
        for (const p of pings) if (o.ports.includes(p.port)) results.set(p.port, p);
      } else {
        status = "down";
        reason = pings.some((p) => p.reason === "host-unreach") ? "host-unreach" : "no-response";
      }
    }
    if (status === "up") {
      const todo = o.ports.filter((p) => !results.has(p));
      let next = 0;
      const worker = async () => {
        while (next < todo.length && !o.signal.aborted) {
          const port = todo[next++] as number;
          results.set(port, await this.port(address, family, port, est));
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.perHost, todo.length) }, worker));
    }
    const portList = o.ports.filter((p) => results.has(p)).map((p) => results.get(p) as PortResult);
    const host: HostResult = { address, family, status, reason, ports: status === "up" ? portList : [], startedAt: hostStarted, endedAt: Date.now() };
    if (names) host.names = names;
    if (est.srtt !== undefined) host.times = { srttMs: est.srtt, rttvarMs: est.rttvar, timeoutMs: est.timeoutMs() };
    return host;
  }
}

/** A host whose discovery answered nothing: reported down at once. */
export function downHost(address: string, family: 4 | 6, names: string[] | undefined, reason: string): HostResult {
  const now = Date.now();
  return { address, family, status: "down", reason, ports: [], startedAt: now, endedAt: now, ...(names ? { names } : {}) };
}
