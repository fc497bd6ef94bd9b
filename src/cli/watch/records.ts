/**
 * The JSON lines of `halfopen watch --json` (and `--log-file`): one function
 * from a published item to its records, so stdout and the log file write the
 * same thing. Every record has a `type`; docs/watch.md lists them. Pure.
 */
import type { IncidentReport } from "../../core/incident.js";
import { isOutput } from "../../core/monitor.js";
import type { IncidentRecord, OtherFindingRecord, StartRecord, WarningRecord, WatchRecord } from "../../core/watch-records.js";
import type { FindingItem, WatchItem } from "./sink.js";

/** An incident finding as shown: with its database id when stored, and where it was stored. */
export function shownIncident(item: FindingItem, incident: IncidentReport): { incident: IncidentReport; extra: { runIncident?: number; stored?: boolean; storeError?: string } } {
  const s = item.storage;
  if (!s) return { incident, extra: {} };
  if (s.stored) return { incident: { ...incident, id: s.id }, extra: { runIncident: s.runIncident, stored: true } };
  return { incident, extra: { runIncident: s.runIncident, stored: false, storeError: s.error } };
}

/** The JSON records of one item (the start brings its fallback and caveats as warnings). */
export function jsonRecords(item: WatchItem, wallOffsetMs: number): (WatchRecord | OtherFindingRecord)[] {
  switch (item.kind) {
    case "start": {
      const { source } = item;
      const start: StartRecord = {
        type: "start",
        source: source.name,
        ...(source.details ? { sourceDetails: source.details() } : {}),
        limit: item.limit,
        quietMs: item.quietMs,
        pid: process.pid,
        time: item.time,
        timeWall: item.timeWall,
        ...(item.db ? { db: item.db, runId: item.runId } : {}),
        ...(item.metrics ? { metrics: item.metrics } : {}),
        ...(item.ui ? { ui: item.ui } : {}),
        ...(item.enforce ? { enforce: item.enforce } : {}),
      };
      const notes = [...(item.fallback ? [item.fallback] : []), ...source.caveats];
      return [start, ...notes.map((message): WarningRecord => ({ type: "warning", message }))];
    }
    case "finding": {
      const o = item.finding;
      if (isOutput(o, "os-limit")) return [{ type: "os-limit", ...o.record, time: o.time }];
      if (isOutput(o, "incident-open") || isOutput(o, "incident")) {
        const { incident, extra } = shownIncident(item, o.incident);
        const record: IncidentRecord = { type: o.type, ...incident, ...extra, emittedAt: item.emittedAt };
        return [record];
      }
      if (isOutput(o, "verdict") || isOutput(o, "lost") || isOutput(o, "blind")) return [{ ...o, timeWall: o.time + wallOffsetMs }];
      // Other detectors' findings: as data, with the wall time.
      return [{ ...(o as OtherFindingRecord), timeWall: o.time + wallOffsetMs }];
    }
    case "summary":
      return [{ type: "summary", ...item.summary, timeWall: item.summary.time + wallOffsetMs }];
    case "warning":
      return [{ type: "warning", message: item.message }];
    case "stored":
      return [{ type: "stored", id: item.id, runIncident: item.runIncident, state: item.state }];
    case "stop":
      return [{ type: "stop", ...item.totals, verdicts: item.verdicts, source: item.sourceStats, time: item.time, timeWall: item.timeWall, ...(item.unstored === undefined ? {} : { unstored: item.unstored }), ...(item.enforce ? { enforce: item.enforce } : {}) }];
  }
}
