/**
 * The detector contract: anything that watches the attempt stream and reports
 * findings. HalfOpenMonitor keeps the table (SynSentTracker) and the run
 * totals, and calls every registered detector, in registration order, as
 * attempts start and end, processes exit, the source reports loss or
 * blindness or an OS limit event, and time passes. The limit detector
 * (incidents, limit-detector.ts) is the first; scanner verdicts and others
 * are each one file implementing this interface. Pure.
 *
 * Findings are an open set: each has a `type` string and a `time`; a detector
 * declares its own finding types (`interface MyFinding extends Finding`), and
 * consumers handle the types they know and pass others on as data.
 *
 * @example
 * ```ts
 * import { HalfOpenMonitor, type Detector } from "halfopen";
 * const smb: Detector = {
 *   name: "smb-attempts",
 *   started(attempt) {
 *     return attempt.dst.port === 445 ? [{ type: "smb-attempt", time: attempt.startedAt }] : [];
 *   },
 * };
 * const monitor = new HalfOpenMonitor({ detectors: [smb] });
 * const found = monitor.handle({
 *   type: "connect", time: 1, sock: "s1", pid: 42, family: 4,
 *   src: { address: "127.0.0.1", port: 40000 }, dst: { address: "127.0.0.2", port: 445 },
 *   process: { pid: 42, name: "smbscan" },
 * });
 * if (!found.some((f) => f.type === "smb-attempt")) throw new Error("the detector saw the attempt");
 * ```
 */
import type { Attempt } from "./attempt.js";
import type { HeldSummary } from "./enforce/types.js";
import type { OsLimitRecord } from "./incident.js";
import type { VerdictSummary } from "./scan-detector.js";
import type { SynSentTracker } from "./tracker.js";

/** Something a detector concluded. `type` names it; the other fields are the detector's own. */
export interface Finding {
  readonly type: string;
  readonly time: number;
}

/** What a hook returns when it found nothing: one shared, frozen empty array, so the per-attempt path allocates none. */
export const NO_FINDINGS: readonly never[] = Object.freeze<never[]>([]);

/** What a detector may read of the monitor's state. */
export interface DetectorContext {
  /** The live table of half-open attempts (host-wide and per process). */
  readonly tracker: SynSentTracker;
  /** When the process with this key exited, if it did. */
  exitedAt(processKey: string): number | undefined;
  /** Added to monotonic times to get wall-clock ms. */
  readonly wallOffsetMs: number;
  /** A process's verdict, from the first detector that gives one (the scan detector). */
  verdictOf(processKey: string): VerdictSummary | undefined;
  /** What `--enforce` held of a process so far, from the detector that holds (the enforcer). */
  heldOf(processKey: string): HeldSummary | undefined;
}

/** Hooks a detector may implement; each returns the findings it caused (none: an empty array or nothing). */
export interface Detector<F extends Finding = Finding> {
  readonly name: string;
  /** An attempt entered SYN_SENT (after the monitor's filter); `seenAtStart` ones arrive as one batch. */
  started?(attempt: Attempt, ctx: DetectorContext): readonly F[] | void;
  /** The SYN of a pending attempt was sent again (no answer yet; exact sources only). */
  retransmitted?(attempt: Attempt, time: number, ctx: DetectorContext): readonly F[] | void;
  /** An attempt left SYN_SENT, or expired; `attempt.outcome` says how. */
  ended?(attempt: Attempt, time: number, ctx: DetectorContext): readonly F[] | void;
  /** A process exited. */
  exited?(pid: number, time: number, ctx: DetectorContext): readonly F[] | void;
  /** The source lost `count` events. */
  lost?(count: number, time: number, ctx: DetectorContext): readonly F[] | void;
  /** The source was blind for `durationMs`. */
  blind?(durationMs: number, time: number, ctx: DetectorContext): readonly F[] | void;
  /** The OS reported its own limit (Windows Event 4226). */
  osLimit?(record: OsLimitRecord, time: number, ctx: DetectorContext): readonly F[] | void;
  /** Time passed (called after every batch and periodically). */
  tick?(now: number, ctx: DetectorContext): readonly F[] | void;
  /**
   * Nothing of this detector's waits on time now (no deadline, nothing open): a caller may tick less often until
   * the next event. A detector with `tick` and without `quiet` is never quiet.
   */
  quiet?(): boolean;
  /** The run is ending: close what is open. */
  flush?(now: number, ctx: DetectorContext): readonly F[] | void;
  /** This detector's verdict of a process, for reports that name it (incidents). */
  verdictOf?(processKey: string): VerdictSummary | undefined;
  /** What this detector held of a process (the enforcer), for reports that name it. */
  heldOf?(processKey: string): HeldSummary | undefined;
}
