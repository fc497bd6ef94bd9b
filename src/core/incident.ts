/**
 * An incident: one episode of the host's half-open count above the limit,
 * the Linux counterpart of Windows Event 4226, except that it names the
 * processes. IncidentRecorder accumulates one episode with bounded memory;
 * `report()` returns a plain, JSON-ready snapshot. Pure.
 */
import type { HeldSummary } from "./enforce/types.js";
import type { VerdictSummary } from "./scan-detector.js";
import { type Attempt, type Outcome, type OutcomeCounts, emptyOutcomeCounts } from "./attempt.js";
import { type Endpoint, EndpointCache, formatEndpoint, keyOf } from "./endpoint.js";
import type { ProcessInfo } from "./events.js";
import { RecentMap } from "./recent-map.js";
import { INCIDENT_TEXT_BUDGET_BYTES, SHORT_CMDLINE_BYTES, argsBytes, capArgs } from "./process-text.js";

/** Bounds that keep a long incident (a worm running for hours) in constant memory. */
export interface IncidentBounds {
  /** Processes tracked one by one; further ones are only counted. Default 256. */
  maxProcesses: number;
  /** Sample attempts kept per process. Default 10. */
  samplesPerProcess: number;
  /** Distinct destinations counted exactly; past this the count is a lower bound. Default 65536. */
  maxDestinations: number;
  /** Destinations listed in `topDestinations`. Default 5. */
  topDestinations: number;
}

export const DEFAULT_INCIDENT_BOUNDS: IncidentBounds = {
  maxProcesses: 256,
  samplesPerProcess: 10,
  maxDestinations: 65_536,
  topDestinations: 5,
};

/** One attempt as an incident lists it. */
export interface AttemptSample {
  src: string;
  dst: string;
  outcome: Outcome;
  /** Milliseconds from the attempt's start to its end (or to the report, if pending). */
  ageMs: number;
  retransmits: number;
  /** The attempt was already half-open when watch started (its age is counted from then). */
  seenAtStart?: boolean;
  /** A SYN sent without connect(): through a raw IP socket or a packet socket. */
  via?: "raw" | "packet";
  /** The name `dst`'s address was resolved from (a DNS answer this host received shortly before). */
  dstName?: string;
  /** This host dropped the SYN, for this kernel reason (outcome dropped-locally). */
  dropReason?: string;
}

/** A process named by an incident. */
export interface IncidentProcess extends ProcessInfo {
  processKey: string;
  /** Attempts of this process that belong to the incident. */
  attempts: number;
  /** Largest number of this process's attempts half-open at once during the incident. */
  peakHalfOpen: number;
  /** Of its attempts, how many are still half-open now. */
  halfOpen: number;
  outcomes: OutcomeCounts;
  distinctDestinations: number;
  /**
   * Set when it sent SYNs without connect(), through a raw IP socket ("raw")
   * or a packet socket ("packet"): its attempts are SYNs seen on the wire.
   */
  via?: "raw" | "packet";
  exited: boolean;
  /** Monotonic ms of the exit, when seen. */
  exitedAt?: number;
  sample: AttemptSample[];
  /** What the scan detector concluded of this process when the report was made (scan-detector.ts). */
  verdict?: VerdictSummary;
  /** What `watch --enforce` held of this process so far (core/enforce/enforcer.ts). */
  held?: HeldSummary;
}

export interface DestinationCount extends Endpoint {
  attempts: number;
  /** The name the address was resolved from, when a DNS answer gave it. */
  name?: string;
}

/** A JSON-ready incident. Times are monotonic milliseconds unless named `...Wall` (ms since the epoch). */
export interface IncidentReport {
  id: number;
  state: "open" | "closed";
  limit: number;
  startedAt: number;
  startedAtWall: number;
  endedAt?: number;
  endedAtWall?: number;
  durationMs: number;
  closedBy?: "quiet" | "shutdown";
  /** The attempt that took the host above the limit. */
  trigger: { attemptId: number; pid: number; name: string; time: number; dst: string };
  peak: number;
  peakAt: number;
  attempts: number;
  outcomes: OutcomeCounts;
  distinctDestinations: number;
  distinctHosts: number;
  /** True when more distinct destinations were seen than `maxDestinations`. */
  destinationsCapped: boolean;
  topDestinations: DestinationCount[];
  processes: IncidentProcess[];
  /** Processes beyond `maxProcesses`, counted but not listed. */
  otherProcesses: number;
  /** Events the source lost while the incident was open. */
  lostEvents: number;
  /** Time the source was blind while the incident was open (present when > 0); counts are lower bounds. */
  blindMs?: number;
  /** The OS's own limit events (Windows Event 4226) logged while the incident was open, at most 100. */
  osEvents: OsLimitRecord[];
  /** OS limit events beyond the 100 listed. */
  osEventsDropped: number;
}

/** An OS limit event as an incident lists it. */
export interface OsLimitRecord {
  timeWall: number;
  source: string;
  recordId?: number;
}

const MAX_OS_EVENTS = 100;

interface ProcessEntry {
  info: ProcessInfo;
  processKey: string;
  attempts: number;
  peakHalfOpen: number;
  halfOpen: number;
  outcomes: OutcomeCounts;
  destinations: Set<string>;
  via?: "raw" | "packet";
  exitedAt?: number;
  sample: Attempt[];
}

/** A destination of an incident, counted. `lastEntry`: the process that made the last attempt counted here, once it has its own set. */
interface DestinationEntry {
  endpoint: Endpoint;
  attempts: number;
  name?: string;
  lastEntry?: ProcessEntry;
}

/** Records one incident. */
export class IncidentRecorder {
  readonly id: number;
  readonly limit: number;
  readonly startedAt: number;
  readonly startedAtWall: number;
  readonly bounds: IncidentBounds;
  readonly trigger: IncidentReport["trigger"];
  endedAt?: number;
  endedAtWall?: number;
  closedBy?: "quiet" | "shutdown";
  peak = 0;
  peakAt = 0;
  attempts = 0;
  lostEvents = 0;
  blindMs = 0;
  otherProcesses = 0;
  readonly osEvents: OsLimitRecord[] = [];
  osEventsDropped = 0;
  readonly outcomes: OutcomeCounts = emptyOutcomeCounts();
  /** By process key; the last one found kept at hand (a flood is mostly one process). */
  readonly #processes = new RecentMap<string, ProcessEntry>();
  readonly #otherKeys = new Set<string>();
  /**
   * The newest attempt added (ids only grow): the attempts pending at the open come in start order, then each new one,
   * so an id at or below it was added already, and every attempt that ends while the incident is open was added
   * pending (it was pending at the open or started after): no set of pending ids, which a flood would churn.
   */
  #lastId = 0;
  /** By endpoint key; `lastEntry`: the process that made the last attempt counted here, once it has its own set. */
  readonly #destinations = new Map<string, DestinationEntry>();
  /** The entries of #destinations by a source's keyed endpoint (an entry is changed in place, never replaced). */
  readonly #dstCache = new EndpointCache<DestinationEntry>();
  readonly #hosts = new Set<string>();
  #destinationsCapped = false;

  readonly #exitedAt?: (processKey: string) => number | undefined;
  readonly #verdictOf?: (processKey: string) => VerdictSummary | undefined;
  readonly #heldOf?: (processKey: string) => HeldSummary | undefined;

  constructor(options: {
    id: number;
    limit: number;
    trigger: Attempt;
    wallOffsetMs: number;
    bounds?: Partial<IncidentBounds>;
    /** When a process already exited before the incident listed it. */
    exitedAt?: (processKey: string) => number | undefined;
    /** A process's verdict now, when a scan detector runs. */
    verdictOf?: (processKey: string) => VerdictSummary | undefined;
    /** What --enforce held of a process so far. */
    heldOf?: (processKey: string) => HeldSummary | undefined;
  }) {
    if (options.heldOf) this.#heldOf = options.heldOf;
    if (options.exitedAt) this.#exitedAt = options.exitedAt;
    if (options.verdictOf) this.#verdictOf = options.verdictOf;
    this.id = options.id;
    this.limit = options.limit;
    this.startedAt = options.trigger.startedAt;
    this.startedAtWall = options.trigger.startedAt + options.wallOffsetMs;
    this.bounds = { ...DEFAULT_INCIDENT_BOUNDS, ...options.bounds };
    const t = options.trigger;
    this.trigger = { attemptId: t.id, pid: t.process.pid, name: t.process.name, time: t.startedAt, dst: formatEndpoint(t.dst) };
  }

  /** Add an attempt (pending at open, or started while open). */
  add(attempt: Attempt, processHalfOpen: number): void {
    if (attempt.id <= this.#lastId) return;
    this.#lastId = attempt.id;
    this.attempts++;
    this.outcomes[attempt.outcome]++;
    const dstKey = keyOf(attempt.dst);
    const entry = this.#entryFor(attempt);
    let dst = this.#dstCache.get(attempt.dst);
    if (dst === undefined) {
      dst = this.#destinations.get(dstKey);
      if (dst) this.#dstCache.set(attempt.dst, dst);
    }
    if (dst) {
      dst.attempts++;
      if (attempt.dstName !== undefined) dst.name = attempt.dstName;
    } else {
      if (this.#destinations.size < this.bounds.maxDestinations) {
        this.#destinations.set(dstKey, { endpoint: { ...attempt.dst }, attempts: 1, ...(attempt.dstName !== undefined ? { name: attempt.dstName } : {}) });
      } else this.#destinationsCapped = true;
      // A known destination's host is known: only a new destination can bring a new host.
      if (this.#hosts.size < this.bounds.maxDestinations) this.#hosts.add(attempt.dst.address);
    }
    if (!entry) return;
    entry.attempts++;
    if (attempt.via) entry.via ??= attempt.via;
    entry.outcomes[attempt.outcome]++;
    if (attempt.outcome === "pending") entry.halfOpen++;
    entry.peakHalfOpen = Math.max(entry.peakHalfOpen, processHalfOpen);
    // A destination last counted for this very process is in its set already (a flood is mostly one process): no lookup.
    if (dst?.lastEntry !== entry && entry.destinations.size < this.bounds.maxDestinations) entry.destinations.add(dstKey);
    if (dst) dst.lastEntry = entry;
    if (entry.sample.length < this.bounds.samplesPerProcess) entry.sample.push(attempt);
  }

  /** An attempt ended (one added while pending: see #lastId). */
  end(attempt: Attempt): void {
    if (attempt.id > this.#lastId) return;
    this.outcomes.pending--;
    this.outcomes[attempt.outcome]++;
    const entry = this.#processes.get(attempt.processKey);
    if (!entry) return;
    entry.outcomes.pending--;
    entry.outcomes[attempt.outcome]++;
    entry.halfOpen--;
  }

  /** The host half-open count changed to `halfOpen` at `time`. */
  observe(halfOpen: number, time: number): void {
    if (halfOpen > this.peak) {
      this.peak = halfOpen;
      this.peakAt = time;
    }
  }

  /** A process exited: every entry with this pid that has not exited yet is marked. */
  exited(pid: number, time: number): void {
    for (const entry of this.#processes.values()) {
      if (entry.info.pid === pid && entry.exitedAt === undefined) entry.exitedAt = time;
    }
  }

  close(time: number, wallOffsetMs: number, closedBy: "quiet" | "shutdown"): void {
    this.endedAt = time;
    this.endedAtWall = time + wallOffsetMs;
    this.closedBy = closedBy;
  }

  /** A JSON-ready snapshot; `now` ages the still-pending sample attempts. */
  report(now: number): IncidentReport {
    const processes = [...this.#processes.values()].map((e) => this.#processReport(e, now));
    processes.sort((a, b) => b.peakHalfOpen - a.peakHalfOpen || b.attempts - a.attempts || a.pid - b.pid);
    boundText(processes);
    const top = [...this.#destinations.values()]
      .sort((a, b) => b.attempts - a.attempts)
      .slice(0, this.bounds.topDestinations)
      .map((d) => ({ ...d.endpoint, attempts: d.attempts, ...(d.name !== undefined ? { name: d.name } : {}) }));
    const end = this.endedAt ?? now;
    const report: IncidentReport = {
      id: this.id,
      state: this.endedAt === undefined ? "open" : "closed",
      limit: this.limit,
      startedAt: this.startedAt,
      startedAtWall: this.startedAtWall,
      durationMs: end - this.startedAt,
      trigger: { ...this.trigger },
      peak: this.peak,
      peakAt: this.peakAt,
      attempts: this.attempts,
      outcomes: { ...this.outcomes },
      distinctDestinations: this.#destinations.size,
      distinctHosts: this.#hosts.size,
      destinationsCapped: this.#destinationsCapped,
      topDestinations: top,
      processes,
      otherProcesses: this.otherProcesses,
      lostEvents: this.lostEvents,
      osEvents: this.osEvents.map((e) => ({ ...e })),
      osEventsDropped: this.osEventsDropped,
    };
    if (this.blindMs > 0) report.blindMs = this.blindMs;
    if (this.endedAt !== undefined) {
      report.endedAt = this.endedAt;
      report.endedAtWall = this.endedAtWall;
      report.closedBy = this.closedBy;
    }
    return report;
  }

  /** File an OS limit event (Windows 4226) under this incident. */
  osLimit(record: OsLimitRecord): void {
    if (this.osEvents.length < MAX_OS_EVENTS) this.osEvents.push(record);
    else this.osEventsDropped++;
  }

  #entryFor(attempt: Attempt): ProcessEntry | undefined {
    let entry = this.#processes.get(attempt.processKey);
    if (entry) {
      // Details read later (exe, cmdline) may fill in a partial record.
      if (entry.info.partial && !attempt.process.partial) entry.info = attempt.process;
      return entry;
    }
    if (this.#processes.size >= this.bounds.maxProcesses) {
      if (!this.#otherKeys.has(attempt.processKey) && this.#otherKeys.size < this.bounds.maxDestinations) {
        this.#otherKeys.add(attempt.processKey);
        this.otherProcesses++;
      }
      return undefined;
    }
    entry = {
      info: attempt.process,
      processKey: attempt.processKey,
      attempts: 0,
      peakHalfOpen: 0,
      halfOpen: 0,
      outcomes: emptyOutcomeCounts(),
      destinations: new Set(),
      sample: [],
    };
    const exitedAt = this.#exitedAt?.(attempt.processKey);
    if (exitedAt !== undefined) entry.exitedAt = exitedAt;
    this.#processes.set(attempt.processKey, entry);
    return entry;
  }

  #processReport(e: ProcessEntry, now: number): IncidentProcess {
    const p: IncidentProcess = {
      ...e.info,
      processKey: e.processKey,
      attempts: e.attempts,
      peakHalfOpen: e.peakHalfOpen,
      halfOpen: e.halfOpen,
      outcomes: { ...e.outcomes },
      distinctDestinations: e.destinations.size,
      exited: e.exitedAt !== undefined,
      sample: e.sample.map((a) => ({
        src: formatEndpoint(a.src),
        dst: formatEndpoint(a.dst),
        outcome: a.outcome,
        ageMs: (a.endedAt ?? now) - a.startedAt,
        retransmits: a.retransmits,
        ...(a.seenAtStart ? { seenAtStart: true } : {}),
        ...(a.via ? { via: a.via } : {}),
        ...(a.dstName !== undefined ? { dstName: a.dstName } : {}),
        ...(a.dropReason !== undefined ? { dropReason: a.dropReason } : {}),
      })),
    };
    if (e.via) p.via = e.via;
    if (e.exitedAt !== undefined) p.exitedAt = e.exitedAt;
    const verdict = this.#verdictOf?.(e.processKey);
    if (verdict) p.verdict = verdict;
    const held = this.#heldOf?.(e.processKey);
    if (held) p.held = held;
    return p;
  }
}

/**
 * Whole command lines for the first processes (most half-open first) up to
 * INCIDENT_TEXT_BUDGET_BYTES; the rest keep SHORT_CMDLINE_BYTES each, marked
 * truncated. With at most `maxProcesses` processes this bounds a report.
 */
function boundText(processes: IncidentProcess[]): void {
  let spent = 0;
  for (const p of processes) {
    spent += argsBytes(p.cmdline);
    if (spent <= INCIDENT_TEXT_BUDGET_BYTES || !p.cmdline) continue;
    const { args, truncated } = capArgs(p.cmdline, SHORT_CMDLINE_BYTES);
    if (!truncated) continue;
    p.cmdline = args;
    p.truncated = [...new Set([...(p.truncated ?? []), "cmdline"])];
  }
}
