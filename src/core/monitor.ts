/**
 * HalfOpenMonitor: feeds the neutral event stream into the SynSentTracker,
 * keeps the run totals, and calls its detectors (detector.ts), the first of
 * which is always the limit detector (limit-detector.ts: incidents). Pure:
 * time comes from the events and from `tick(now)`; nothing here reads a
 * clock, a file or a socket.
 *
 * The limit detector opens one incident per episode:
 *   - opens when the host half-open count goes above `limit` (the attempt
 *     that does it is the trigger; every attempt pending then belongs to it);
 *   - stays open while above, adding every attempt that starts;
 *   - closes once the count has stayed at or below `limit` for `quietMs`.
 */
import { NameMap, type NameMapOptions, nameKey } from "./name-map.js";
import { type Attempt, type OutcomeCounts, emptyOutcomeCounts } from "./attempt.js";
import type { ConnectEvent, ConnectionEvent, ContainerRef, PodRef, ProcessInfo } from "./events.js";
import { type Detector, type DetectorContext, type Finding, NO_FINDINGS } from "./detector.js";
import type { IncidentBounds, IncidentReport, OsLimitRecord } from "./incident.js";
import { LimitDetector, type LimitFinding } from "./limit-detector.js";
import { PeriodHistory } from "./period-history.js";
import type { VerdictFinding } from "./scan-detector.js";
import { SynSentTracker } from "./tracker.js";

export interface HalfOpenMonitorOptions {
  /** Half-open attempts allowed at once, host-wide. Default 10 (Windows XP SP2). */
  limit?: number;
  /** Bounds of the address-to-name map fed by dns events. */
  names?: NameMapOptions;
  /** How long the count must stay at or below the limit before an incident closes. Default 5000 ms. */
  quietMs?: number;
  /** See SynSentTrackerOptions.maxAgeMs. */
  maxAgeMs?: number;
  /** Only attempts for which this returns true are tracked (the `--pid` / `--comm` filters). */
  filter?: (process: ProcessInfo) => boolean;
  /** Added to monotonic times to get wall-clock ms since the epoch. Default 0. */
  wallOffsetMs?: number;
  incidentBounds?: Partial<IncidentBounds>;
  /** Processes kept in the run totals; more are summed into one "other" row. Default 10000. */
  maxTotalsProcesses?: number;
  /** Detectors called after the limit detector, in this order. */
  detectors?: Detector[];
}

/** What the source itself reported, passed on by the monitor. */
export type SourceFinding =
  | { type: "lost"; time: number; count: number; cpu?: number }
  /** The source could not see attempts for a while (count unknown). */
  | { type: "blind"; time: number; since: number; durationMs: number; reason: string; ongoing?: boolean };

/**
 * What the monitor reports as it goes: the source's own reports, the limit
 * detector's findings, and whatever other registered detectors find (an open
 * set: match on `type`, pass unknown ones on as data).
 */
export type MonitorOutput = SourceFinding | LimitFinding | Finding;

/** The outputs whose shape is known here (the source's, the limit detector's and the scan detector's). */
export type KnownOutput = SourceFinding | LimitFinding | VerdictFinding;

/** Narrows an output to a known type: `if (isOutput(o, "incident")) o.incident`. */
export function isOutput<T extends KnownOutput["type"]>(o: MonitorOutput, type: T): o is Extract<KnownOutput, { type: T }> {
  return o.type === type;
}

/** Counters for one summary period. */
export interface MonitorSummary {
  time: number;
  periodMs: number;
  halfOpen: number;
  maxHalfOpen: number;
  attempts: number;
  outcomes: OutcomeCounts;
  lostEvents: number;
  openIncident?: number;
  incidents: number;
  top?: { pid: number; name: string; halfOpen: number };
}

/** Run totals of one process. */
export interface ProcessTotals {
  pid: number;
  name: string;
  processKey: string;
  /** Where it ran (core/attribution.ts), when known. */
  unit?: string;
  container?: ContainerRef;
  pod?: PodRef;
  netnsName?: string;
  attempts: number;
  outcomes: OutcomeCounts;
  /** Set when it sent SYNs without connect() (raw IP or packet socket): how. */
  via?: "raw" | "packet";
  /** Of those, SYNs seen on the wire (attempts plus their retransmissions). */
  syns?: number;
  /** Monotonic ms of the process's exit, when seen. */
  exitedAt?: number;
}

/** Counters since the monitor started (see `counters()`). */
export interface MonitorCounters {
  halfOpen: number;
  attempts: number;
  /** Attempts that ended, by outcome (`pending` is 0 here). */
  ended: OutcomeCounts;
  lostEvents: number;
  osLimitEvents: number;
  incidents: number;
  incidentOpen: boolean;
  /** SYNs seen on the wire that no connect() made, by how they were sent (attempts and retransmissions). */
  rawSyns: { raw: number; packet: number };
}

export interface MonitorTotals {
  attempts: number;
  outcomes: OutcomeCounts;
  lostEvents: number;
  /** Time the source reported being blind (see BlindEvent), ms. */
  blindMs: number;
  unmatchedEnds: number;
  /** OS limit events (Windows 4226) seen. */
  osLimitEvents: number;
  incidents: number;
  processes: ProcessTotals[];
  /** Attempts of processes beyond `maxTotalsProcesses`. */
  otherAttempts: number;
}

export class HalfOpenMonitor {
  readonly limit: number;
  readonly quietMs: number;
  readonly tracker: SynSentTracker;
  /** Address -> name, from the DNS answers the source saw (dns events). */
  readonly names: NameMap;
  /** The incident detector; `detectors[0]`. */
  readonly limitDetector: LimitDetector;
  /** Every detector, in the order they are called. */
  readonly detectors: readonly Detector[];
  readonly #filter?: (process: ProcessInfo) => boolean;
  readonly #ctx: DetectorContext;
  readonly #maxTotals: number;
  #lastTime = 0;
  // run totals
  readonly #outcomes: OutcomeCounts = emptyOutcomeCounts();
  #attempts = 0;
  #lost = 0;
  #blindMs = 0;
  readonly #perProcess = new Map<string, ProcessTotals>();
  /** The details of each process in the totals (for the per-unit and per-container views). */
  readonly #infoByKey = new Map<string, ProcessInfo>();
  /** The newest process key of each live pid, to apply exit events. */
  readonly #lastKeyByPid = new Map<number, string>();
  /** The process #countProcess counted last, and its totals (entries of #perProcess are never removed). */
  #lastTotalsKey?: string;
  #lastTotals?: ProcessTotals;
  #otherAttempts = 0;
  /** Checkpoints of the totals at each tick: summaries of any period are pure reads. */
  readonly #history = new PeriodHistory();
  #firstTime?: number;
  #osEvents = 0;
  readonly #rawSyns = { raw: 0, packet: 0 };

  constructor(options: HalfOpenMonitorOptions = {}) {
    this.tracker = new SynSentTracker(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs });
    this.names = new NameMap(options.names ?? {});
    if (options.filter) this.#filter = options.filter;
    this.#maxTotals = options.maxTotalsProcesses ?? 10_000;
    this.limitDetector = new LimitDetector({
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.quietMs === undefined ? {} : { quietMs: options.quietMs }),
      ...(options.incidentBounds ? { incidentBounds: options.incidentBounds } : {}),
    });
    this.limit = this.limitDetector.limit;
    this.quietMs = this.limitDetector.quietMs;
    this.detectors = [this.limitDetector, ...(options.detectors ?? [])];
    const perProcess = this.#perProcess;
    const detectors = this.detectors;
    this.#ctx = {
      tracker: this.tracker,
      wallOffsetMs: options.wallOffsetMs ?? 0,
      exitedAt: (key) => perProcess.get(key)?.exitedAt,
      verdictOf: (key) => {
        for (const d of detectors) {
          const v = d.verdictOf?.(key);
          if (v) return v;
        }
        return undefined;
      },
      heldOf: (key) => {
        for (const d of detectors) {
          const h = d.heldOf?.(key);
          if (h) return h;
        }
        return undefined;
      },
    };
  }

  /**
   * Nothing waits on time: no attempt half-open (none can expire), and every detector quiet (no incident open, no
   * verdict deadline). Ticks then change nothing until the next event, so a caller may tick less often.
   */
  get quiet(): boolean {
    if (this.tracker.halfOpen > 0) return false;
    for (const d of this.detectors) if (d.tick && !(d.quiet?.() ?? false)) return false;
    return true;
  }

  /** The incident open now, if any. */
  get openIncident(): IncidentReport | undefined {
    return this.limitDetector.openReport(this.#lastTime);
  }

  /** Call `hook` of every detector that has it; collect what they found. */
  #each(out: MonitorOutput[], call: (d: Detector) => readonly Finding[] | void): void {
    for (const d of this.detectors) {
      const found = call(d);
      if (found) for (const f of found) out.push(f);
    }
  }

  /** What handle() is finding (reused: most events find nothing, and handle() then returns NO_FINDINGS). */
  readonly #found: MonitorOutput[] = [];

  /** Feed one event; returns what it caused: usually nothing, one shared frozen empty array (no array per event). */
  handle(event: ConnectionEvent): readonly MonitorOutput[] {
    const out = this.#found;
    out.length = 0;
    if (event.time > this.#lastTime) this.#lastTime = event.time;
    this.#firstTime ??= event.time;
    switch (event.type) {
      case "connect":
        this.#connect(event, out);
        break;
      case "leave": {
        const attempt = this.tracker.leave(event);
        if (attempt) this.#ended(attempt, event.time, out);
        break;
      }
      case "reset":
        this.tracker.reset(event.sock, event.slot);
        break;
      case "drop":
        this.tracker.dropped(event.sock, event.reason, event.slot);
        break;
      case "retransmit": {
        const attempt = this.tracker.retransmit(event.sock, event.slot);
        if (attempt?.via) {
          this.#rawSyns[attempt.via]++;
          const totals = this.#perProcess.get(attempt.processKey);
          if (totals) totals.syns = (totals.syns ?? 0) + 1;
        }
        if (attempt) this.#each(out, (d) => d.retransmitted?.(attempt, event.time, this.#ctx));
        break;
      }
      case "exit": {
        const key = this.#lastKeyByPid.get(event.pid);
        if (key !== undefined) {
          this.#lastKeyByPid.delete(event.pid);
          if (key === this.#lastTotalsKey) this.#lastTotalsKey = this.#lastTotals = undefined;
          const totals = this.#perProcess.get(key);
          if (totals) totals.exitedAt = event.time;
        }
        this.#each(out, (d) => d.exited?.(event.pid, event.time, this.#ctx));
        break;
      }
      case "lost":
        this.#lost += event.count;
        out.push(event.cpu === undefined ? { type: "lost", time: event.time, count: event.count } : { type: "lost", time: event.time, count: event.count, cpu: event.cpu });
        this.#each(out, (d) => d.lost?.(event.count, event.time, this.#ctx));
        break;
      case "blind":
        this.#blindMs += event.durationMs;
        out.push({ ...event });
        this.#each(out, (d) => d.blind?.(event.durationMs, event.time, this.#ctx));
        break;
      case "dns":
        this.names.add(nameKey(event.netns, event.address), event.name, event.ttl, event.time);
        break;
      case "os-limit": {
        const record: OsLimitRecord = { timeWall: event.timeWall, source: event.source };
        if (event.recordId !== undefined) record.recordId = event.recordId;
        this.#osEvents++;
        this.#each(out, (d) => d.osLimit?.(record, event.time, this.#ctx));
        break;
      }
    }
    if (out.length === 0) return NO_FINDINGS;
    const found = out.slice();
    out.length = 0;
    return found;
  }

  /**
   * Advance time: expires attempts whose end was never seen and closes the
   * incident once the quiet period has passed. Call it periodically and after
   * each batch of events.
   */
  tick(now: number): MonitorOutput[] {
    if (now > this.#lastTime) this.#lastTime = now;
    const out: MonitorOutput[] = [];
    for (const attempt of this.tracker.expire(now)) this.#ended(attempt, now, out);
    this.#each(out, (d) => d.tick?.(now, this.#ctx));
    this.#history.checkpoint(now, this.#runTotals(), this.tracker.halfOpen);
    return out;
  }

  /** Close what is open now (on shutdown), reporting it. */
  flush(now: number): MonitorOutput[] {
    const out: MonitorOutput[] = [];
    this.#each(out, (d) => d.flush?.(now, this.#ctx));
    return out;
  }

  /**
   * What happened in the period (since, now], and the table now. A read:
   * any number of readers can ask for their own periods. `since` defaults to
   * the first event; it is exact when it is the time of a tick (call
   * `tick(now)` before a summary that the next one will start from: the
   * tick's checkpoint at `now` is then kept for it, however long the period
   * and however many ticks a flood makes meanwhile).
   */
  summary(now: number, since?: number): MonitorSummary {
    const from = since ?? this.#firstTime ?? now;
    const p = this.#history.period(from, this.#runTotals(), this.tracker.halfOpen);
    this.#history.keep(now);
    const top = this.tracker.perProcess()[0];
    let topRow: MonitorSummary["top"];
    if (top) {
      const name = this.#perProcess.get(top.processKey)?.name ?? "?";
      topRow = { pid: top.pid, name, halfOpen: top.halfOpen };
    }
    const s: MonitorSummary = {
      time: now,
      periodMs: now - from,
      halfOpen: this.tracker.halfOpen,
      maxHalfOpen: p.maxHalfOpen,
      attempts: p.attempts,
      outcomes: { ...p.ended, pending: 0 },
      lostEvents: p.lost,
      incidents: this.limitDetector.incidents,
    };
    const open = this.limitDetector.openId;
    if (open !== undefined) s.openIncident = open;
    if (topRow) s.top = topRow;
    return s;
  }

  #runTotals(): { attempts: number; ended: OutcomeCounts; lost: number } {
    return { attempts: this.#attempts, ended: this.#outcomes, lost: this.#lost };
  }

  /** Run counters without the per-process list: cheap enough for every metrics scrape. */
  counters(): MonitorCounters {
    return {
      halfOpen: this.tracker.halfOpen,
      attempts: this.#attempts,
      ended: { ...this.#outcomes, pending: 0 },
      lostEvents: this.#lost,
      osLimitEvents: this.#osEvents,
      incidents: this.limitDetector.incidents,
      incidentOpen: this.limitDetector.openId !== undefined,
      rawSyns: { ...this.#rawSyns },
    };
  }

  /**
   * Half-open attempts now, summed per process name: the `top` largest names,
   * then everything else as one `other` entry (omitted when zero). Bounds the
   * label values a metrics system sees, whatever names processes choose.
   */
  halfOpenByName(top: number): { name: string; halfOpen: number; other?: true }[] {
    return this.halfOpenBy(top, (p) => p.name);
  }

  /**
   * Half-open attempts now, summed per `label` of their process (its unit,
   * its container, ...; processes without one are left out), bounded like
   * halfOpenByName.
   */
  halfOpenBy(top: number, label: (process: ProcessInfo) => string | undefined): { name: string; halfOpen: number; other?: true }[] {
    const byName = new Map<string, number>();
    for (const p of this.tracker.perProcess()) {
      const info = this.#infoByKey.get(p.processKey);
      const name = info ? label(info) : "?";
      if (name === undefined) continue;
      byName.set(name, (byName.get(name) ?? 0) + p.halfOpen);
    }
    const sorted = [...byName].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const rows: { name: string; halfOpen: number; other?: true }[] = sorted.slice(0, top).map(([name, halfOpen]) => ({ name, halfOpen }));
    const rest = sorted.slice(top).reduce((n, [, v]) => n + v, 0);
    if (rest > 0) rows.push({ name: "other", halfOpen: rest, other: true });
    return rows;
  }

  /** Totals since the monitor started; per process, most attempts first. */
  totals(): MonitorTotals {
    const outcomes = { ...this.#outcomes, pending: this.tracker.halfOpen };
    return {
      attempts: this.#attempts,
      outcomes,
      lostEvents: this.#lost,
      blindMs: this.#blindMs,
      unmatchedEnds: this.tracker.unmatched,
      osLimitEvents: this.#osEvents,
      incidents: this.limitDetector.incidents,
      processes: [...this.#perProcess.values()]
        .map((p) => ({ ...p, outcomes: { ...p.outcomes, pending: p.attempts - endedCount(p.outcomes) } }))
        .sort((a, b) => b.attempts - a.attempts || a.pid - b.pid),
      otherAttempts: this.#otherAttempts,
    };
  }

  #connect(event: ConnectEvent, out: MonitorOutput[]): void {
    if (this.#filter && !this.#filter(event.process)) return;
    const attempt = this.tracker.start(event);
    const ended = this.tracker.superseded;
    const name = this.names.size > 0 ? this.names.lookup(nameKey(event.process.netns, event.dst.address), event.time) : undefined;
    if (name !== undefined) attempt.dstName = name;
    if (ended) this.#ended(ended, event.time, out);
    this.#attempts++;
    this.#countProcess(attempt);
    this.#history.observe(this.tracker.halfOpen);
    // The hot hooks are plain loops: no closure per attempt.
    for (const d of this.detectors) collect(out, d.started?.(attempt, this.#ctx));
  }

  #ended(attempt: Attempt, time: number, out: MonitorOutput[]): void {
    this.#outcomes[attempt.outcome]++;
    const totals = this.#totalsOf(attempt.processKey);
    if (totals) totals.outcomes[attempt.outcome]++;
    for (const d of this.detectors) collect(out, d.ended?.(attempt, time, this.#ctx));
  }

  /** The run totals of a process key; the last process counted answers without a lookup (a flood is mostly one). */
  #totalsOf(key: string): ProcessTotals | undefined {
    if (key === this.#lastTotalsKey) return this.#lastTotals;
    return this.#perProcess.get(key);
  }

  #countProcess(attempt: Attempt): void {
    if (attempt.via) this.#rawSyns[attempt.via]++;
    const key = attempt.processKey;
    let totals = key === this.#lastTotalsKey ? this.#lastTotals : undefined;
    if (!totals) {
      totals = this.#perProcess.get(key);
      if (!totals) {
        if (this.#perProcess.size >= this.#maxTotals) {
          this.#otherAttempts++;
          return;
        }
        const p = attempt.process;
        totals = { pid: p.pid, name: p.name, processKey: key, attempts: 0, outcomes: emptyOutcomeCounts() };
        if (p.unit !== undefined) totals.unit = p.unit;
        if (p.container) totals.container = p.container;
        if (p.pod) totals.pod = p.pod;
        if (p.netnsName !== undefined) totals.netnsName = p.netnsName;
        this.#perProcess.set(key, totals);
        this.#infoByKey.set(key, attempt.process);
      }
      // Set while the key is not the last one counted: an exit forgets the last one (see "exit").
      this.#lastKeyByPid.set(attempt.process.pid, key);
      this.#lastTotalsKey = key;
      this.#lastTotals = totals;
    }
    totals.attempts++;
    if (attempt.via) {
      totals.via ??= attempt.via;
      totals.syns = (totals.syns ?? 0) + 1;
    }
  }
}

function collect(out: MonitorOutput[], found: readonly Finding[] | void): void {
  if (found) for (let i = 0; i < found.length; i++) out.push(found[i] as Finding);
}

function endedCount(o: OutcomeCounts): number {
  return o.established + o.refused + o.timeout + o["dropped-locally"] + o.aborted + o.unknown;
}
