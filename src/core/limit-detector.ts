/**
 * LimitDetector: the Windows XP SP2 rule as a detector. One incident per
 * episode of the host's half-open count above `limit`, the Linux counterpart
 * of Event 4226 that names the processes. Pure.
 *
 *   - opens when the count goes above `limit` (the attempt that does it is the
 *     trigger; every attempt pending then belongs to it); attempts read at
 *     start open it at the next tick, with all of them;
 *   - stays open while above, adding every attempt that starts;
 *   - closes once the count has stayed at or below `limit` for `quietMs`.
 * Findings: `incident-open`, `incident` (closed), and `os-limit` for an OS
 * limit event that arrives while no incident is open.
 */
import type { Attempt } from "./attempt.js";
import { type Detector, type DetectorContext, type Finding, NO_FINDINGS } from "./detector.js";
import { type IncidentBounds, IncidentRecorder, type IncidentReport, type OsLimitRecord } from "./incident.js";

/** An incident opened (`incident-open`, the report so far) or closed (`incident`). */
export type IncidentFinding = { readonly type: "incident-open"; readonly time: number; readonly incident: IncidentReport } | { readonly type: "incident"; readonly time: number; readonly incident: IncidentReport };

export interface OsLimitFinding extends Finding {
  readonly type: "os-limit";
  readonly record: OsLimitRecord;
}

export type LimitFinding = IncidentFinding | OsLimitFinding;

export interface LimitDetectorOptions {
  /** Half-open attempts allowed at once, host-wide. Default 10 (Windows XP SP2). */
  limit?: number;
  /** How long the count must stay at or below the limit before an incident closes. Default 5000 ms. */
  quietMs?: number;
  incidentBounds?: Partial<IncidentBounds>;
}

export class LimitDetector implements Detector<LimitFinding> {
  readonly name = "limit";
  readonly limit: number;
  readonly quietMs: number;
  readonly #bounds?: Partial<IncidentBounds>;
  #incident?: IncidentRecorder;
  #belowSince?: number;
  #incidents = 0;
  /** The (limit+1)-th of the attempts seen at start, while their batch is being fed. */
  #deferredTrigger?: Attempt;

  constructor(options: LimitDetectorOptions = {}) {
    this.limit = options.limit ?? 10;
    this.quietMs = options.quietMs ?? 5000;
    if (options.incidentBounds) this.#bounds = options.incidentBounds;
  }

  /** Incidents opened so far. */
  get incidents(): number {
    return this.#incidents;
  }

  /** The id of the incident open now. */
  get openId(): number | undefined {
    return this.#incident?.id;
  }

  /** The incident open now, as of `now`. */
  openReport(now: number): IncidentReport | undefined {
    return this.#incident?.report(now);
  }

  started(attempt: Attempt, ctx: DetectorContext): readonly LimitFinding[] {
    const halfOpen = ctx.tracker.halfOpen;
    let incident = this.#incident;
    let out: LimitFinding[] | undefined;
    if (!incident && halfOpen > this.limit) {
      if (attempt.seenAtStart) {
        this.#deferredTrigger ??= attempt;
        return NO_FINDINGS;
      }
      out = [];
      incident = this.#open(attempt, attempt.startedAt, ctx, out);
    } else if (incident) {
      incident.add(attempt, ctx.tracker.halfOpenOf(attempt.processKey));
      incident.observe(halfOpen, attempt.startedAt);
    }
    if (incident && halfOpen > this.limit) this.#belowSince = undefined;
    return out ?? NO_FINDINGS;
  }

  ended(attempt: Attempt, time: number, ctx: DetectorContext): void {
    const incident = this.#incident;
    if (!incident) return;
    incident.end(attempt);
    if (ctx.tracker.halfOpen <= this.limit) this.#belowSince ??= time;
  }

  exited(pid: number, time: number): void {
    this.#incident?.exited(pid, time);
  }

  lost(count: number): void {
    if (this.#incident) this.#incident.lostEvents += count;
  }

  blind(durationMs: number): void {
    if (this.#incident) this.#incident.blindMs += durationMs;
  }

  osLimit(record: OsLimitRecord, time: number): LimitFinding[] {
    if (this.#incident) {
      this.#incident.osLimit(record);
      return [];
    }
    return [{ type: "os-limit", time, record }];
  }

  quiet(): boolean {
    return this.#incident === undefined && this.#deferredTrigger === undefined;
  }

  tick(now: number, ctx: DetectorContext): LimitFinding[] {
    const deferred = this.#deferredTrigger;
    if (deferred) {
      this.#deferredTrigger = undefined;
      if (!this.#incident && ctx.tracker.halfOpen > this.limit) {
        const out: LimitFinding[] = [];
        this.#open(deferred, now, ctx, out);
        return out;
      }
    }
    const incident = this.#incident;
    if (incident && this.#belowSince !== undefined && now - this.#belowSince >= this.quietMs) {
      return [this.#close(incident, now, "quiet", ctx)];
    }
    return [];
  }

  flush(now: number, ctx: DetectorContext): LimitFinding[] {
    const incident = this.#incident;
    return incident ? [this.#close(incident, now, "shutdown", ctx)] : [];
  }

  #open(trigger: Attempt, time: number, ctx: DetectorContext, out: LimitFinding[]): IncidentRecorder {
    const incident = new IncidentRecorder({
      id: ++this.#incidents,
      limit: this.limit,
      trigger,
      wallOffsetMs: ctx.wallOffsetMs,
      exitedAt: (key) => ctx.exitedAt(key),
      verdictOf: (key) => ctx.verdictOf(key),
      heldOf: (key) => ctx.heldOf(key),
      ...(this.#bounds ? { bounds: this.#bounds } : {}),
    });
    this.#incident = incident;
    for (const pending of ctx.tracker.pending()) incident.add(pending, ctx.tracker.halfOpenOf(pending.processKey));
    incident.observe(ctx.tracker.halfOpen, time);
    out.push({ type: "incident-open", time, incident: incident.report(time) });
    return incident;
  }

  #close(incident: IncidentRecorder, now: number, by: "quiet" | "shutdown", ctx: DetectorContext): LimitFinding {
    incident.close(now, ctx.wallOffsetMs, by);
    this.#incident = undefined;
    this.#belowSince = undefined;
    return { type: "incident", time: now, incident: incident.report(now) };
  }
}
