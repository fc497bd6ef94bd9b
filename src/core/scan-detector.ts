/**
 * ScanVerdictDetector: a verdict per process, `scanner` (worm-like),
 * `benign` or `undecided`, from the outcomes of its first contacts, with the
 * evidence. Implements the Detector contract (detector.ts); pure.
 *
 * First contacts: a connect to a destination the process has not tried
 * before (by default a service, address and port; `firstContactBy: "host"`
 * counts addresses, as TRW's paper did for inbound scans). Retrying a
 * destination is not a new observation, so a health checker polling a
 * service that is down is not a scanner. A first contact succeeds when it is
 * answered (ESTABLISHED); it fails when it is refused, when its SYN is
 * retransmitted (no answer after the first RTO, about 1 s; exact sources see
 * it), when it is still unanswered `noAnswerMs` after it started (polling
 * sources and replays too), or when it ends unanswered. So a verdict never
 * waits for the kernel's two-minute connect timeout or the program's own.
 * Outcomes are applied in the order the first contacts started (an answered
 * one waits for the unanswered ones before it, at most `noAnswerMs`), since
 * a failure is known a second after a success would have been.
 *
 *   started ─► first contact? ─► pending ─┬─ ESTABLISHED ─────────► success ─┐
 *                                         ├─ RST / retransmit / due ► failure ┤
 *                                         └─ other end, unanswered ► failure ─┤
 *                  TRW (sequential-tests.ts) ◄──────────────────────────────────┤
 *                  reverse SHT             ◄──────────────────────────────────┘
 *
 * The verdict is `scanner` as soon as either test flags (TRW, or the reverse
 * test, which also catches a process that behaved for an hour and then
 * scans), `benign` once TRW concludes so and the reverse test has not
 * flagged, else `undecided`. Every change of verdict is a `verdict` finding,
 * at the time of the observation that made it. Williamson's virus throttle
 * (virus-throttle.ts) and plain counts are evidence, not deciders.
 *
 * Per-process independence: a process's observations are applied in the
 * order of their own times (a deadline that passed before the process's next
 * event is applied first), so its verdict depends only on its own attempts,
 * however they interleave with other processes' (a property test checks it).
 * Memory: at most `maxProcesses` processes (exited ones go first) and
 * `maxDestinations` remembered destinations per process.
 */
import type { Attempt } from "./attempt.js";
import { type Detector, NO_FINDINGS } from "./detector.js";
import { keyOf } from "./endpoint.js";
import type { ContainerRef, PodRef, ProcessInfo } from "./events.js";
import { RecentMap } from "./recent-map.js";
import { REVERSE_DEFAULTS, ReverseSequentialTest, type SequentialTestParameters, TRW_DEFAULTS, ThresholdRandomWalk } from "./sequential-tests.js";
import { VirusThrottle, type VirusThrottleOptions } from "./virus-throttle.js";

export type Verdict = "scanner" | "benign" | "undecided";
/** Which test decided: the Threshold Random Walk or the reverse sequential test. */
export type VerdictTest = "trw" | "reverse-sht";

/** The numbers behind a verdict. */
export interface VerdictEvidence {
  attempts: number;
  firstContacts: number;
  firstContactFailures: number;
  /** First contacts to addresses resolved by DNS shortly before: not observations (see ScanVerdictOptions.resolved). */
  resolvedFirstContacts: number;
  /** Ended attempts that were not answered (refused, timed out, aborted, unknown), of all ended ones; 0 when none ended. */
  failureRatio: number;
  distinctDestinations: number;
  distinctHosts: number;
  distinctPorts: number;
  /** New destinations per second since the first attempt (over at least one second). */
  newDestinationsPerSecond: number;
  /** Williamson's delay queue now and at most (virus-throttle.ts). */
  throttleQueue: number;
  throttlePeak: number;
  trwRatio: number;
  reverseRatio: number;
  /** Seconds from the process's first attempt to this verdict. */
  secondsToVerdict: number;
}

/** What `incidents` and `ls` show of a process's verdict. */
export interface VerdictSummary {
  verdict: Verdict;
  test?: VerdictTest;
  firstContacts: number;
  trusted?: true;
}

export interface VerdictFinding {
  type: "verdict";
  time: number;
  pid: number;
  name: string;
  processKey: string;
  exe?: string;
  user?: string;
  /** Where the process runs (core/attribution.ts), when known. */
  unit?: string;
  container?: ContainerRef;
  pod?: PodRef;
  netns?: number;
  netnsName?: string;
  verdict: Exclude<Verdict, "undecided">;
  test: VerdictTest;
  /** First contacts observed when the test decided. */
  firstContacts: number;
  /** The user said they know this program (`--trust`): shown, never alerted on. */
  trusted: boolean;
  evidence: VerdictEvidence;
}

/** One test's outcome for a process (testsOf). */
export interface TestOutcome {
  decision?: "scanner" | "benign";
  firstContacts?: number;
  afterMs?: number;
}

export interface TestsReport {
  firstContacts: number;
  throttlePeak: number;
  trw: TestOutcome;
  reverse: TestOutcome;
}

export interface ScanVerdictOptions {
  trw?: Partial<SequentialTestParameters>;
  reverse?: Partial<SequentialTestParameters>;
  throttle?: VirusThrottleOptions;
  /** An unanswered first contact counts as failed this long after it started. Default 1000 ms (the first SYN retransmission). */
  noAnswerMs?: number;
  /** What a destination is: "service" (address and port, default) or "host" (address). */
  firstContactBy?: "service" | "host";
  /** Programs the user knows (`--trust`): still judged, never alerted on. */
  trusted?: (process: ProcessInfo) => boolean;
  /** Processes remembered at most; exited ones, then the oldest, are dropped first. Default 10000. */
  maxProcesses?: number;
  /** Destinations remembered per process. Default 4096. */
  maxDestinations?: number;
  /**
   * A first contact to an address a DNS answer gave shortly before
   * (Attempt.dstName): "skip" (default) takes it as no observation, since
   * scanners and worms pick addresses nobody looked up while browsers,
   * crawlers and monitoring connect to names they just resolved (Whyte, van
   * Oorschot, Kranakis, NDSS 2005); "observe" judges it like any other (the
   * plain TRW, an anchor for the bench).
   */
  resolved?: "skip" | "observe";
}

/**
 * `--trust` entries as a test of a process: an entry with a "/" is an
 * executable path (matched against the process's exe), any other a process
 * name (its comm) or a systemd unit (its unit, e.g. backup.service). Names
 * and paths are compared exactly.
 */
export function trustList(entries: readonly string[]): ((process: ProcessInfo) => boolean) | undefined {
  if (entries.length === 0) return undefined;
  const paths = new Set(entries.filter((e) => e.includes("/")));
  const names = new Set(entries.filter((e) => !e.includes("/")));
  // A name is a process name or a systemd unit (backup.service): whole services can be trusted.
  return (p) => names.has(p.name) || (p.exe !== undefined && paths.has(p.exe)) || (p.unit !== undefined && names.has(p.unit));
}

interface PendingContact {
  due: number;
  /** Known once the attempt was answered or failed; applied when every earlier first contact is. */
  success?: boolean;
  at?: number;
}

interface ProcessState {
  process: ProcessInfo;
  processKey: string;
  firstAt: number;
  attempts: number;
  ended: number;
  failedEnds: number;
  /** Destinations tried (first contacts), bounded. */
  contacted: Set<string>;
  hosts: Set<string>;
  ports: Set<number>;
  destinations: number;
  firstContacts: number;
  firstContactFailures: number;
  resolvedFirstContacts: number;
  /** Pending first contacts by attempt id, in start order (so due times ascend). */
  pending: Map<number, PendingContact>;
  trw: ThresholdRandomWalk;
  reverse: ReverseSequentialTest;
  throttle: VirusThrottle;
  verdict: Verdict;
  test?: VerdictTest;
  decidedAfter?: number;
  /** When each test decided (for evaluations that report the tests apart). */
  trwAt?: number;
  reverseAt?: number;
  trusted: boolean;
  exited: boolean;
}

export class ScanVerdictDetector implements Detector<VerdictFinding> {
  readonly name = "scan-verdicts";
  readonly noAnswerMs: number;
  readonly #o: ScanVerdictOptions;
  readonly #trw: SequentialTestParameters;
  readonly #reverse: SequentialTestParameters;
  readonly #maxProcesses: number;
  readonly #maxDestinations: number;
  /** By process key; the last one found kept at hand (a flood is mostly one process). */
  readonly #processes = new RecentMap<string, ProcessState>();
  /** Processes with first contacts still pending. */
  readonly #waiting = new Set<ProcessState>();
  /** The newest process key of each pid, for exits. */
  readonly #keyByPid = new Map<number, string>();
  readonly #counts = { scanner: 0, benign: 0, trustedScanner: 0 };

  constructor(options: ScanVerdictOptions = {}) {
    this.#o = options;
    this.noAnswerMs = options.noAnswerMs ?? 1000;
    this.#trw = { ...TRW_DEFAULTS, ...options.trw };
    this.#reverse = { ...REVERSE_DEFAULTS, ...options.reverse };
    // Built once, so bad parameters fail here and not at the first attempt.
    new ThresholdRandomWalk(this.#trw);
    new ReverseSequentialTest(this.#reverse);
    new VirusThrottle(options.throttle);
    this.#maxProcesses = options.maxProcesses ?? 10_000;
    this.#maxDestinations = options.maxDestinations ?? 4096;
  }

  /** Verdicts reached so far (trusted scanners apart: they raise no alert). */
  counts(): { scanner: number; benign: number; trustedScanner: number } {
    return { ...this.#counts };
  }

  /** The verdict of a process now (undefined: never seen). */
  verdictOf(processKey: string): VerdictSummary | undefined {
    const s = this.#processes.get(processKey);
    if (!s) return undefined;
    const v: VerdictSummary = { verdict: s.verdict, firstContacts: s.decidedAfter ?? s.firstContacts };
    if (s.test) v.test = s.test;
    if (s.trusted) v.trusted = true;
    return v;
  }

  /**
   * Each test on its own, for a process: TRW's decision and the reverse
   * test's flag, with the first contacts and the time (ms since the
   * process's first attempt) at which each was reached. For evaluations.
   */
  testsOf(processKey: string): TestsReport | undefined {
    const s = this.#processes.get(processKey);
    if (!s) return undefined;
    const since = (t?: number) => (t === undefined ? undefined : t - s.firstAt);
    return {
      firstContacts: s.firstContacts,
      throttlePeak: s.throttle.peak,
      trw: { decision: s.trw.decision, firstContacts: s.trw.decision ? s.trw.observations : undefined, afterMs: since(s.trwAt) },
      reverse: { decision: s.reverse.flagged ? "scanner" : undefined, firstContacts: s.reverse.flagged ? s.reverse.observations : undefined, afterMs: since(s.reverseAt) },
    };
  }

  started(attempt: Attempt): readonly VerdictFinding[] {
    const s = this.#state(attempt);
    const out = this.#due(s, attempt.startedAt);
    s.attempts++;
    s.throttle.connect(attempt.dst.address, attempt.startedAt);
    const key = this.#o.firstContactBy === "host" ? attempt.dst.address : keyOf(attempt.dst);
    if (s.contacted.has(key)) return out ?? NO_FINDINGS;
    if (s.contacted.size >= this.#maxDestinations) s.contacted.delete(s.contacted.values().next().value as string);
    s.contacted.add(key);
    s.destinations++;
    if (s.hosts.size < this.#maxDestinations) s.hosts.add(attempt.dst.address);
    if (s.ports.size < this.#maxDestinations) s.ports.add(attempt.dst.port);
    if (attempt.dstName !== undefined && this.#o.resolved !== "observe") {
      s.resolvedFirstContacts++;
      return out ?? NO_FINDINGS;
    }
    s.firstContacts++;
    s.pending.set(attempt.id, { due: attempt.startedAt + this.noAnswerMs });
    this.#waiting.add(s);
    return out ?? NO_FINDINGS;
  }

  ended(attempt: Attempt, time: number): readonly VerdictFinding[] {
    const s = this.#processes.get(attempt.processKey);
    if (!s) return NO_FINDINGS;
    s.ended++;
    if (attempt.outcome !== "established") s.failedEnds++;
    return this.#outcome(s, attempt.id, attempt.outcome === "established", time);
  }

  retransmitted(attempt: Attempt, time: number): readonly VerdictFinding[] {
    const s = this.#processes.get(attempt.processKey);
    return s ? this.#outcome(s, attempt.id, false, time) : NO_FINDINGS;
  }

  exited(pid: number): void {
    const key = this.#keyByPid.get(pid);
    if (key === undefined) return;
    this.#keyByPid.delete(pid);
    const s = this.#processes.get(key);
    if (s) s.exited = true;
  }

  /** No first contact waits for its deadline. */
  quiet(): boolean {
    return this.#waiting.size === 0;
  }

  tick(now: number): readonly VerdictFinding[] {
    let out: VerdictFinding[] | undefined;
    // Only processes with first contacts waiting: a tick runs after every batch, and most processes have none.
    for (const s of this.#waiting) out = this.#due(s, now, out);
    return out ?? NO_FINDINGS;
  }

  flush(now: number): readonly VerdictFinding[] {
    return this.tick(now);
  }

  /** A pending first contact's outcome is known (an overdue one stays a failure at its deadline); apply what is due. */
  #outcome(s: ProcessState, attemptId: number, success: boolean, time: number): readonly VerdictFinding[] {
    const p = s.pending.get(attemptId);
    if (p && p.success === undefined) {
      p.success = success;
      p.at = time;
    }
    return this.#due(s, time) ?? NO_FINDINGS;
  }

  /**
   * Apply the first contacts in the order they started: from the oldest
   * pending one, each that is resolved, or whose deadline passed by `time`
   * (then a failure, at its deadline), until one is still open. Outcomes are
   * taken in start order because failures are known later than successes: in
   * the order they become known, a client's few dead peers would arrive as
   * one run of failures after all its successes.
   */
  #due(s: ProcessState, time: number, found?: VerdictFinding[]): VerdictFinding[] | undefined {
    // Most calls find nothing pending (a flood repeats its destinations): no iterator, no array.
    if (s.pending.size === 0) return found;
    let out = found;
    let last = Number.NEGATIVE_INFINITY;
    for (const [id, p] of s.pending) {
      let success: boolean;
      let at: number;
      if (p.success !== undefined && p.at !== undefined && p.at <= p.due) {
        success = p.success;
        at = p.at;
      } else if (p.due <= time) {
        success = false;
        at = p.due;
      } else break;
      s.pending.delete(id);
      if (s.pending.size === 0) this.#waiting.delete(s);
      last = Math.max(last, at);
      const finding = this.#observe(s, success, last);
      if (finding) (out ??= []).push(finding);
    }
    return out;
  }

  /** One first contact's outcome into the tests; the finding when it decided a verdict. */
  #observe(s: ProcessState, success: boolean, time: number): VerdictFinding | undefined {
    if (!success) s.firstContactFailures++;
    const trw = s.trw.observe(success);
    const reverse = s.reverse.observe(success);
    if (trw) s.trwAt = time;
    if (reverse) s.reverseAt = time;
    let decided: { verdict: Exclude<Verdict, "undecided">; test: VerdictTest } | undefined;
    if (s.verdict !== "scanner") {
      if (trw === "scanner") decided = { verdict: "scanner", test: "trw" };
      else if (reverse === "scanner") decided = { verdict: "scanner", test: "reverse-sht" };
      else if (trw === "benign" && s.verdict === "undecided") decided = { verdict: "benign", test: "trw" };
    }
    if (!decided) return undefined;
    s.verdict = decided.verdict;
    s.test = decided.test;
    s.decidedAfter = decided.test === "trw" ? s.trw.observations : s.reverse.observations;
    if (decided.verdict === "benign") this.#counts.benign++;
    else if (s.trusted) this.#counts.trustedScanner++;
    else this.#counts.scanner++;
    return this.#finding(s, decided.verdict, decided.test, time);
  }

  #finding(s: ProcessState, verdict: Exclude<Verdict, "undecided">, test: VerdictTest, time: number): VerdictFinding {
    const elapsed = Math.max(0, time - s.firstAt);
    const f: VerdictFinding = {
      type: "verdict",
      time,
      pid: s.process.pid,
      name: s.process.name,
      processKey: s.processKey,
      verdict,
      test,
      firstContacts: s.decidedAfter ?? s.firstContacts,
      trusted: s.trusted,
      evidence: {
        attempts: s.attempts,
        firstContacts: s.firstContacts,
        firstContactFailures: s.firstContactFailures,
        resolvedFirstContacts: s.resolvedFirstContacts,
        failureRatio: s.ended === 0 ? 0 : round(s.failedEnds / s.ended),
        distinctDestinations: s.destinations,
        distinctHosts: s.hosts.size,
        distinctPorts: s.ports.size,
        newDestinationsPerSecond: round(s.destinations / Math.max(1, elapsed / 1000)),
        throttleQueue: s.throttle.queueAt(time),
        throttlePeak: s.throttle.peak,
        trwRatio: round(s.trw.ratio),
        reverseRatio: round(s.reverse.ratio),
        secondsToVerdict: round(elapsed / 1000),
      },
    };
    const p = s.process;
    if (p.exe) f.exe = p.exe;
    if (p.user) f.user = p.user;
    if (p.unit !== undefined) f.unit = p.unit;
    if (p.container) f.container = p.container;
    if (p.pod) f.pod = p.pod;
    if (p.netns !== undefined) f.netns = p.netns;
    if (p.netnsName !== undefined) f.netnsName = p.netnsName;
    return f;
  }

  #state(attempt: Attempt): ProcessState {
    let s = this.#processes.get(attempt.processKey);
    if (s) return s;
    this.#keyByPid.set(attempt.process.pid, attempt.processKey);
    if (this.#processes.size >= this.#maxProcesses) this.#evict();
    s = {
      process: attempt.process,
      processKey: attempt.processKey,
      firstAt: attempt.startedAt,
      attempts: 0,
      ended: 0,
      failedEnds: 0,
      contacted: new Set(),
      hosts: new Set(),
      ports: new Set(),
      destinations: 0,
      firstContacts: 0,
      firstContactFailures: 0,
      resolvedFirstContacts: 0,
      pending: new Map(),
      trw: new ThresholdRandomWalk(this.#trw),
      reverse: new ReverseSequentialTest(this.#reverse),
      throttle: new VirusThrottle(this.#o.throttle),
      verdict: "undecided",
      trusted: this.#o.trusted?.(attempt.process) ?? false,
      exited: false,
    };
    this.#processes.set(attempt.processKey, s);
    return s;
  }

  /** Drop an exited process (the oldest), else the oldest. */
  #evict(): void {
    for (const [key, s] of this.#processes) {
      if (s.exited) {
        this.#processes.delete(key);
        this.#waiting.delete(s);
        return;
      }
    }
    const oldest = this.#processes.keys().next().value;
    if (oldest !== undefined) {
      const s = this.#processes.get(oldest);
      if (s && this.#keyByPid.get(s.process.pid) === oldest) this.#keyByPid.delete(s.process.pid);
      if (s) this.#waiting.delete(s);
      this.#processes.delete(oldest);
    }
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
