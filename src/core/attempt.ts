/**
 * The lifecycle of one outbound connect attempt: it starts when the socket
 * enters SYN_SENT (the process is captured then, because it may be gone
 * later) and ends once, with one outcome. Pure.
 *
 *   connect ──► pending ──┬─► established   (SYN-ACK: left SYN_SENT for ESTABLISHED)
 *                         ├─► refused       (RST received, then CLOSE)
 *                         ├─► timeout       (CLOSE in interrupt context without RST:
 *                         │                  SYN retries exhausted or ICMP error)
 *                         ├─► dropped-locally (ended unanswered after this host itself
 *                         │                  dropped its SYN: a firewall rule, a BPF
 *                         │                  program, a full queue; `dropReason` says which)
 *                         ├─► aborted       (CLOSE by the process: close() or connect timeout)
 *                         └─► unknown       (end never seen: events lost, socket reused)
 */
import type { Endpoint, IpFamily } from "./endpoint.js";
import type { ProcessInfo } from "./events.js";
import { TcpState } from "./tcp-state.js";

export type Outcome = "pending" | "established" | "refused" | "timeout" | "dropped-locally" | "aborted" | "unknown";

/** The outcomes in display order. */
export const OUTCOMES: readonly Outcome[] = ["established", "refused", "timeout", "dropped-locally", "aborted", "unknown", "pending"];

export type OutcomeCounts = Record<Outcome, number>;

export function emptyOutcomeCounts(): OutcomeCounts {
  return { pending: 0, established: 0, refused: 0, timeout: 0, "dropped-locally": 0, aborted: 0, unknown: 0 };
}

/** One connect attempt. `endedAt` is set once the outcome is no longer pending. */
export interface Attempt {
  id: number;
  sock: string;
  /** The source's slot for the socket (ConnectEvent.slot), when it gave one. */
  slot?: number;
  process: ProcessInfo;
  /** Identity of the process across pid reuse: `pid` or `pid@startTime`. */
  processKey: string;
  family: IpFamily;
  src: Endpoint;
  dst: Endpoint;
  startedAt: number;
  endedAt?: number;
  outcome: Outcome;
  retransmits: number;
  /** A RST was seen while in SYN_SENT. */
  reset: boolean;
  /** Already half-open when watch started: `startedAt` is the start of watch, not of the attempt. */
  seenAtStart?: boolean;
  /** A SYN sent without connect(), through a raw IP or packet socket (ConnectEvent.via). */
  via?: "raw" | "packet";
  /** The name `dst.address` was resolved from shortly before, by a DNS answer this host received. */
  dstName?: string;
  /** This host dropped its SYN, for this reason (the kernel's drop reason, e.g. NETFILTER_DROP). */
  dropReason?: string;
  /** `watch --enforce` held its first SYN this long before it went (or before the program gave up). */
  heldMs?: number;
}

/** Keys made so far, per ProcessInfo object: a source hands the same object for each of a process's attempts. */
const keys = new WeakMap<ProcessInfo, string>();

/**
 * Key that tells two processes with the same pid apart. Made once per
 * ProcessInfo object (the hot path: a flood's every attempt would otherwise
 * build and hash a new string); `pid` and `startTime` are never changed on
 * an object once it is in use.
 */
export function processKeyOf(p: ProcessInfo): string {
  let key = keys.get(p);
  if (key === undefined) {
    key = p.startTime === undefined ? String(p.pid) : `${p.pid}@${p.startTime}`;
    keys.set(p, key);
  }
  return key;
}

/** The outcome of an attempt that left SYN_SENT for `newState`. */
export function outcomeOnLeave(attempt: Attempt, newState: number, inInterrupt: boolean): Outcome {
  if (newState !== TcpState.CLOSE) return "established";
  if (attempt.reset) return "refused";
  // Unanswered because this host dropped the SYN: not the far end's silence, nor the program's choice.
  if (attempt.dropReason !== undefined) return "dropped-locally";
  return inInterrupt ? "timeout" : "aborted";
}
