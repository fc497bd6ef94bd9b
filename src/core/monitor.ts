/**
 * HalfOpenMonitor: feeds the neutral event stream into the SynSentTracker and
 * the limit detector, and reports incidents. Pure: time comes from the events
 * and from `tick(now)`; nothing here reads a clock, a file or a socket.
 *
 * The limit detector opens one incident per episode:
 *   - opens when the host half-open count goes above `limit` (the attempt
 *     that does it is the trigger; every attempt pending then belongs to it);
 *   - stays open while above, adding every attempt that starts;
 *   - closes once the count has stayed at or below `limit` for `quietMs`.
 */
import { type Attempt, type OutcomeCounts, emptyOutcomeCounts } from "./attempt.js";
import type { ConnectEvent, ConnectionEvent, ProcessInfo } from "./events.js";
import { type IncidentBounds, IncidentRecorder, type IncidentReport, type OsLimitRecord } from "./incident.js";
import { SynSentTracker } from "./tracker.js";

export interface HalfOpenMonitorOptions {
  /** Half-open attempts allowed at once, host-wide. Default 10 (Windows XP SP2). */
  limit?: number;
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
}

/** What the monitor reports as it goes. */
export type MonitorOutput =
  | { type: "incident-open"; incident: IncidentReport }
  | { type: "incident"; incident: IncidentReport }
  | { type: "lost"; time: number; count: number; cpu?: number }
  /** The source could not see attempts for a while (count unknown). */
  | { type: "blind"; time: number; since: number; durationMs: number; reason: string; ongoing?: boolean }
  /** An OS limit event (Windows 4226) that arrived while no incident was open. */
  | { type: "os-limit"; time: number; record: OsLimitRecord };

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
  attempts: number;
  outcomes: OutcomeCounts;
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
  readonly #filter?: (process: ProcessInfo) => boolean;
  readonly #wallOffsetMs: number;
  readonly #bounds?: Partial<IncidentBounds>;
  readonly #maxTotals: number;
  #incident?: IncidentRecorder;
  /** The (limit+1)-th of the attempts seen at start, while their batch is being fed. */
  #deferredTrigger?: Attempt;
  #belowSince?: number;
  #incidents = 0;
  #lastTime = 0;
  // run totals
  readonly #outcomes: OutcomeCounts = emptyOutcomeCounts();
  #attempts = 0;
  #lost = 0;
  #blindMs = 0;
  readonly #perProcess = new Map<string, ProcessTotals>();
  /** The newest process key of each live pid, to apply exit events. */
  readonly #lastKeyByPid = new Map<number, string>();
  #otherAttempts = 0;
  // current summary period
  #periodStart?: number;
  #periodAttempts = 0;
  #periodOutcomes: OutcomeCounts = emptyOutcomeCounts();
  #periodMax = 0;
  #periodLost = 0;
  #osEvents = 0;

  constructor(options: HalfOpenMonitorOptions = {}) {
    this.limit = options.limit ?? 10;
    this.quietMs = options.quietMs ?? 5000;
    this.tracker = new SynSentTracker(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs });
    if (options.filter) this.#filter = options.filter;
    this.#wallOffsetMs = options.wallOffsetMs ?? 0;
    if (options.incidentBounds) this.#bounds = options.incidentBounds;
    this.#maxTotals = options.maxTotalsProcesses ?? 10_000;
  }

  /** The incident open now, if any. */
  get openIncident(): IncidentReport | undefined {
    return this.#incident?.report(this.#lastTime);
  }

  /** Feed one event; returns what it caused (usually nothing). */
  handle(event: ConnectionEvent): MonitorOutput[] {
    const out: MonitorOutput[] = [];
    if (event.time > this.#lastTime) this.#lastTime = event.time;
    this.#periodStart ??= event.time;
    switch (event.type) {
      case "connect":
        this.#connect(event, out);
        break;
      case "leave": {
        const attempt = this.tracker.leave(event);
        if (attempt) this.#ended(attempt, event.time);
        break;
      }
      case "reset":
        this.tracker.reset(event.sock);
        break;
      case "retransmit":
        this.tracker.retransmit(event.sock);
        break;
      case "exit": {
        const key = this.#lastKeyByPid.get(event.pid);
        if (key !== undefined) {
          this.#lastKeyByPid.delete(event.pid);
          const totals = this.#perProcess.get(key);
          if (totals) totals.exitedAt = event.time;
        }
        this.#incident?.exited(event.pid, event.time);
        break;
      }
      case "lost":
        this.#lost += event.count;
        this.#periodLost += event.count;
        if (this.#incident) this.#incident.lostEvents += event.count;
        out.push(event.cpu === undefined ? { type: "lost", time: event.time, count: event.count } : { type: "lost", time: event.time, count: event.count, cpu: event.cpu });
        break;
      case "blind":
        this.#blindMs += event.durationMs;
        if (this.#incident) this.#incident.blindMs += event.durationMs;
        out.push({ ...event });
        break;
      case "os-limit": {
        const record: OsLimitRecord = { timeWall: event.timeWall, source: event.source };
        if (event.recordId !== undefined) record.recordId = event.recordId;
        this.#osEvents++;
        if (this.#incident) this.#incident.osLimit(record);
        else out.push({ type: "os-limit", time: event.time, record });
        break;
      }
    }
    return out;
  }

  /**
   * Advance time: expires attempts whose end was never seen and closes the
   * incident once the quiet period has passed. Call it periodically and after
   * each batch of events.
   */
  tick(now: number): MonitorOutput[] {
    if (now > this.#lastTime) this.#lastTime = now;
    for (const attempt of this.tracker.expire(now)) this.#ended(attempt, now);
    const deferred = this.#deferredTrigger;
    if (deferred) {
      this.#deferredTrigger = undefined;
      if (!this.#incident && this.tracker.halfOpen > this.limit) {
        const out: MonitorOutput[] = [];
        this.#open(deferred, now, out);
        return out;
      }
    }
    const incident = this.#incident;
    if (incident && this.#belowSince !== undefined && now - this.#belowSince >= this.quietMs) {
      incident.close(now, this.#wallOffsetMs, "quiet");
      this.#incident = undefined;
      this.#belowSince = undefined;
      return [{ type: "incident", incident: incident.report(now) }];
    }
    return [];
  }

  /** Close the open incident now (on shutdown), reporting it. */
  flush(now: number): MonitorOutput[] {
    const incident = this.#incident;
    if (!incident) return [];
    incident.close(now, this.#wallOffsetMs, "shutdown");
    this.#incident = undefined;
    this.#belowSince = undefined;
    return [{ type: "incident", incident: incident.report(now) }];
  }

  /** Counters since the previous call, and the current table. */
  summary(now: number): MonitorSummary {
    const start = this.#periodStart ?? now;
    const top = this.tracker.perProcess()[0];
    let topRow: MonitorSummary["top"];
    if (top) {
      const name = this.#perProcess.get(top.processKey)?.name ?? "?";
      topRow = { pid: top.pid, name, halfOpen: top.halfOpen };
    }
    const s: MonitorSummary = {
      time: now,
      periodMs: now - start,
      halfOpen: this.tracker.halfOpen,
      maxHalfOpen: Math.max(this.#periodMax, this.tracker.halfOpen),
      attempts: this.#periodAttempts,
      outcomes: this.#periodOutcomes,
      lostEvents: this.#periodLost,
      incidents: this.#incidents,
    };
    if (this.#incident) s.openIncident = this.#incident.id;
    if (topRow) s.top = topRow;
    this.#periodStart = now;
    this.#periodAttempts = 0;
    this.#periodOutcomes = emptyOutcomeCounts();
    this.#periodMax = this.tracker.halfOpen;
    this.#periodLost = 0;
    return s;
  }

  /** Run counters without the per-process list: cheap enough for every metrics scrape. */
  counters(): MonitorCounters {
    return {
      halfOpen: this.tracker.halfOpen,
      attempts: this.#attempts,
      ended: { ...this.#outcomes, pending: 0 },
      lostEvents: this.#lost,
      osLimitEvents: this.#osEvents,
      incidents: this.#incidents,
      incidentOpen: this.#incident !== undefined,
    };
  }

  /**
   * Half-open attempts now, summed per process name: the `top` largest names,
   * then everything else as one `other` entry (omitted when zero). Bounds the
   * label values a metrics system sees, whatever names processes choose.
   */
  halfOpenByName(top: number): { name: string; halfOpen: number; other?: true }[] {
    const byName = new Map<string, number>();
    for (const p of this.tracker.perProcess()) {
      const name = this.#perProcess.get(p.processKey)?.name ?? "?";
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
      incidents: this.#incidents,
      processes: [...this.#perProcess.values()]
        .map((p) => ({ ...p, outcomes: { ...p.outcomes, pending: p.attempts - endedCount(p.outcomes) } }))
        .sort((a, b) => b.attempts - a.attempts || a.pid - b.pid),
      otherAttempts: this.#otherAttempts,
    };
  }

  #connect(event: ConnectEvent, out: MonitorOutput[]): void {
    if (this.#filter && !this.#filter(event.process)) return;
    const { attempt, ended } = this.tracker.connect(event);
    if (ended) this.#ended(ended, event.time);
    this.#attempts++;
    this.#periodAttempts++;
    this.#countProcess(attempt);
    const halfOpen = this.tracker.halfOpen;
    if (halfOpen > this.#periodMax) this.#periodMax = halfOpen;
    let incident = this.#incident;
    if (!incident && halfOpen > this.limit) {
      // Attempts read at start arrive as one batch: the incident opens at the
      // next tick with all of them, not at the (limit+1)-th.
      if (event.seenAtStart) {
        this.#deferredTrigger ??= attempt;
        return;
      }
      incident = this.#open(attempt, event.time, out);
    } else if (incident) {
      incident.add(attempt, this.tracker.halfOpenOf(attempt.processKey));
      incident.observe(halfOpen, event.time);
    }
    if (incident && halfOpen > this.limit) this.#belowSince = undefined;
  }

  /** Open an incident triggered by `trigger`; every attempt pending now belongs to it. */
  #open(trigger: Attempt, time: number, out: MonitorOutput[]): IncidentRecorder {
    const incident = new IncidentRecorder({
      id: ++this.#incidents,
      limit: this.limit,
      trigger,
      wallOffsetMs: this.#wallOffsetMs,
      exitedAt: (key) => this.#perProcess.get(key)?.exitedAt,
      ...(this.#bounds ? { bounds: this.#bounds } : {}),
    });
    this.#incident = incident;
    for (const pending of this.tracker.pending()) {
      incident.add(pending, this.tracker.halfOpenOf(pending.processKey));
    }
    incident.observe(this.tracker.halfOpen, time);
    out.push({ type: "incident-open", incident: incident.report(time) });
    return incident;
  }

  #ended(attempt: Attempt, time: number): void {
    this.#outcomes[attempt.outcome]++;
    this.#periodOutcomes[attempt.outcome]++;
    const totals = this.#perProcess.get(attempt.processKey);
    if (totals) totals.outcomes[attempt.outcome]++;
    const incident = this.#incident;
    if (!incident) return;
    incident.end(attempt);
    if (this.tracker.halfOpen <= this.limit) this.#belowSince ??= time;
  }

  #countProcess(attempt: Attempt): void {
    let totals = this.#perProcess.get(attempt.processKey);
    if (!totals) {
      if (this.#perProcess.size >= this.#maxTotals) {
        this.#otherAttempts++;
        return;
      }
      totals = { pid: attempt.process.pid, name: attempt.process.name, processKey: attempt.processKey, attempts: 0, outcomes: emptyOutcomeCounts() };
      this.#perProcess.set(attempt.processKey, totals);
    }
    this.#lastKeyByPid.set(attempt.process.pid, attempt.processKey);
    totals.attempts++;
  }
}

function endedCount(o: OutcomeCounts): number {
  return o.established + o.refused + o.timeout + o.aborted + o.unknown;
}
