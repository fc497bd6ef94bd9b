/**
 * How long to wait for a connect, and what its outcome means. Pure.
 *
 * RttEstimator is nmap's (timing.cc, adjust_timeouts2), in milliseconds:
 *   first sample:  srtt = Δ, rttvar = clamp(Δ, 5, 2000)
 *   then:          srtt += (Δ − srtt) / 8;  rttvar += (|Δ − srtt| − rttvar) / 4
 *   timeout = srtt + 4 · rttvar, clamped to [min, max] (nmap T3: initial 1000, min 100, max 10000)
 * A host without samples of its own uses the scan-wide estimate, as nmap
 * uses its group's.
 *
 * outcomeOf maps a connect's result to nmap's port states: success → open,
 * ECONNREFUSED → closed, silence → filtered after the retries,
 * EHOSTUNREACH/ENETUNREACH/EACCES/EPERM → filtered at once. Local errors
 * (EMFILE, ENFILE, EADDRNOTAVAIL, ENOBUFS, ENOMEM, EAGAIN) say nothing about
 * the port: they are retried and, if they persist, reported as `unknown`,
 * never as closed.
 */

export interface RttOptions {
  initialMs: number;
  minMs: number;
  maxMs: number;
}

export const NMAP_T3: RttOptions = { initialMs: 1000, minMs: 100, maxMs: 10_000 };

export class RttEstimator {
  srtt: number | undefined;
  rttvar = 0;
  samples = 0;
  constructor(readonly options: RttOptions = NMAP_T3) {}

  sample(ms: number): void {
    const delta = Math.max(0, ms);
    this.samples++;
    if (this.srtt === undefined) {
      this.srtt = delta;
      this.rttvar = Math.max(5, Math.min(delta, 2000));
      return;
    }
    const diff = delta - this.srtt;
    this.srtt += diff / 8;
    this.rttvar += (Math.abs(diff) - this.rttvar) / 4;
  }

  /** The timeout for the next attempt, ms; `fallback` is used while this one has no samples. */
  timeoutMs(fallback?: RttEstimator): number {
    if (this.srtt === undefined) return fallback && fallback !== this ? fallback.timeoutMs() : this.options.initialMs;
    return Math.min(this.options.maxMs, Math.max(this.options.minMs, this.srtt + 4 * this.rttvar));
  }
}

export type PortState = "open" | "closed" | "filtered" | "unknown";

export type Outcome =
  /** The answer is final. */
  | { kind: "final"; state: PortState; reason: string }
  /** No answer in time: try again, filtered when the retries are spent. */
  | { kind: "silent" }
  /** A local resource ran out: try again later, unknown if it persists. */
  | { kind: "local"; reason: string };

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EACCES", "EPERM", "EHOSTDOWN", "ENONET"]);
const LOCAL = new Set(["EMFILE", "ENFILE", "EADDRNOTAVAIL", "ENOBUFS", "ENOMEM", "EAGAIN", "EADDRINUSE"]);

/** What a connect's end means: `code` is the error code, undefined when it connected, "TIMEOUT" when it got no answer in time. */
export function outcomeOf(code: string | undefined): Outcome {
  if (code === undefined) return { kind: "final", state: "open", reason: "syn-ack" };
  if (code === "ECONNREFUSED") return { kind: "final", state: "closed", reason: "conn-refused" };
  if (code === "ECONNRESET") return { kind: "final", state: "closed", reason: "reset" };
  if (code === "TIMEOUT" || code === "ETIMEDOUT") return { kind: "silent" };
  if (UNREACHABLE.has(code)) return { kind: "final", state: "filtered", reason: code === "EACCES" || code === "EPERM" ? "admin-prohibited" : "host-unreach" };
  if (LOCAL.has(code)) return { kind: "local", reason: code };
  return { kind: "final", state: "unknown", reason: code };
}
