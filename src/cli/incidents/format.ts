/**
 * Output of `halfopen incidents`: the list (80 columns), CSV, and one
 * incident in full. Process names and command lines go through
 * forTerminal() on the terminal and csvSafe() in CSV. Pure.
 */
import { stringify } from "csv-stringify/sync";
import type { StoredIncident } from "../../store/incident-store.js";
import { cols, csvSafe } from "../sanitize.js";
import { incidentBody, seconds } from "../watch/format.js";
import { fit, forTerminal } from "../sanitize.js";

/** `YYYY-MM-DD HH:MM:SS` in local time. */
export function dateTime(wallMs: number): string {
  const d = new Date(wallMs);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const LIST_HEADER = "    ID STARTED        DURATION PEAK/LIMIT  TRIES PROCESS           STATE";

function topProcess(s: StoredIncident): string {
  const r = s.report;
  const top = r.processes[0];
  if (!top) return "-";
  const more = r.processes.length - 1 + r.otherProcesses;
  const tail = more > 0 ? ` +${more}` : "";
  return `${fit(forTerminal(top.name), 17 - tail.length - String(top.pid).length - 2)}[${top.pid}]${tail}`;
}

/** The list: one line per incident, newest first, under 80 columns. */
export function formatIncidentList(list: StoredIncident[]): string {
  if (list.length === 0) return "halfopen: no incidents match";
  const lines = [LIST_HEADER];
  for (const s of list) {
    const r = s.report;
    lines.push(
      [
        String(s.id).padStart(6),
        dateTime(r.startedAtWall).slice(5),
        seconds(r.durationMs).padStart(8),
        `${r.peak}/${r.limit}`.padStart(10),
        String(r.attempts).padStart(6),
        topProcess(s).padEnd(17),
        s.state,
      ].join(" "),
    );
  }
  return lines.join("\n");
}

export const INCIDENT_CSV_COLUMNS = [
  "id", "state", "started", "ended", "duration_s", "limit", "peak", "attempts",
  "established", "refused", "timeout", "aborted", "unknown", "pending",
  "processes", "top_pid", "top_name", "top_cmdline", "distinct_destinations", "distinct_hosts", "hostname", "source",
] as const;

/** One row per incident, with a header; times in ISO 8601 UTC. */
export function formatIncidentCsv(list: StoredIncident[]): string {
  const rows = list.map((s) => {
    const r = s.report;
    const top = r.processes[0];
    return [
      s.id,
      s.state,
      new Date(r.startedAtWall).toISOString(),
      r.endedAtWall === undefined ? "" : new Date(r.endedAtWall).toISOString(),
      (r.durationMs / 1000).toFixed(3),
      r.limit,
      r.peak,
      r.attempts,
      r.outcomes.established,
      r.outcomes.refused,
      r.outcomes.timeout,
      r.outcomes.aborted,
      r.outcomes.unknown,
      r.outcomes.pending,
      r.processes.length + r.otherProcesses,
      top?.pid ?? "",
      csvSafe(top?.name ?? ""),
      csvSafe(top?.cmdline?.join(" ") ?? ""),
      r.distinctDestinations,
      r.distinctHosts,
      csvSafe(s.hostname),
      s.source,
    ];
  });
  return stringify([[...INCIDENT_CSV_COLUMNS], ...rows]);
}

/** One incident in full: when, where, the process table, and every sampled attempt. */
export function formatIncidentShow(s: StoredIncident): string {
  const r = s.report;
  const lines = [`INCIDENT ${s.id} (${s.state}): peak ${r.peak} half-open (limit ${r.limit})`];
  const end = r.endedAtWall === undefined ? "" : `, ended ${dateTime(r.endedAtWall).slice(11)}`;
  const by = r.closedBy === undefined ? "" : `, closed by ${r.closedBy === "quiet" ? "quiet period" : "watch stopping"}`;
  lines.push(fit(`  started ${dateTime(r.startedAtWall)}${end} (${seconds(r.durationMs)}${by})`, cols()));
  lines.push(fit(`  host ${forTerminal(s.hostname)}, source ${s.source}, watch run ${s.runId} incident ${s.runIncident}`, cols()));
  lines.push(fit(`  trigger: ${forTerminal(r.trigger.name)}[${r.trigger.pid}] -> ${r.trigger.dst}`, cols()));
  if (s.state === "interrupted") lines.push("  the watch that recorded it stopped before the incident closed; counts are as last saved");
  lines.push(...incidentBody(r));
  const sampled = r.processes.filter((p) => p.sample.length > 0);
  if (sampled.length > 0) {
    lines.push("  sampled attempts:");
    for (const p of sampled) {
      lines.push(fit(`  ${forTerminal(p.name)}[${p.pid}], ${p.sample.length} of ${p.attempts}${p.exe ? `, ${forTerminal(p.exe)}` : ""}`, cols()));
      for (const a of p.sample) {
        lines.push(fit(`    ${a.src} -> ${a.dst}  ${a.outcome} after ${seconds(a.ageMs)}${a.retransmits > 0 ? `, ${a.retransmits} retr` : ""}`, cols()));
      }
    }
  }
  return lines.join("\n");
}
