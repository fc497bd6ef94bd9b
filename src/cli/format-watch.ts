/**
 * Human output of `halfopen watch`: one line per incident opening, a block per
 * closed incident, a periodic summary line. Under 80 columns; every string a
 * process controls goes through forTerminal(). Pure.
 */
import { type OutcomeCounts } from "../core/attempt.js";
import type { IncidentReport } from "../core/incident.js";
import type { MonitorSummary, MonitorTotals } from "../core/monitor.js";
import { fit, forTerminal } from "./sanitize.js";

/** `HH:MM:SS` of a wall-clock time, in local time. */
export function clock(wallMs: number): string {
  const d = new Date(wallMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

export function formatIncidentOpen(i: IncidentReport): string {
  const t = i.trigger;
  return fit(`${clock(i.startedAtWall)} INCIDENT ${i.id} opened: ${i.limit + 1} half-open > limit ${i.limit}; ${forTerminal(t.name)}[${t.pid}] -> ${t.dst}`, 79);
}

const HEADER = "  PID      USER     PROCESS          TRIES  PEAK   EST   REF   T/O  PEND EXIT";

function row(p: IncidentReport["processes"][number]): string {
  const user = p.user ?? (p.uid === undefined ? "?" : String(p.uid));
  const ended = p.outcomes.timeout + p.outcomes.aborted + p.outcomes.unknown;
  const cells = [
    String(p.pid).padEnd(8),
    fit(forTerminal(user), 8).padEnd(8),
    fit(forTerminal(p.name), 15).padEnd(15),
    String(p.attempts).padStart(6),
    String(p.peakHalfOpen).padStart(5),
    String(p.outcomes.established).padStart(5),
    String(p.outcomes.refused).padStart(5),
    String(ended).padStart(5),
    String(p.outcomes.pending).padStart(5),
    p.exited ? " yes" : "  no",
  ];
  return `  ${cells.join(" ")}`;
}

function outcomesText(o: OutcomeCounts): string {
  return `${o.established} est, ${o.refused} ref, ${o.timeout} t/o, ${o.aborted} abt, ${o.pending} pend`;
}

/** The block printed when an incident closes. */
export function formatIncident(i: IncidentReport): string {
  const lines: string[] = [];
  const end = i.endedAtWall ?? i.startedAtWall + i.durationMs;
  lines.push(`${clock(end)} INCIDENT ${i.id} closed after ${seconds(i.durationMs)}: peak ${i.peak} half-open (limit ${i.limit})`);
  const dests = `${i.distinctDestinations}${i.destinationsCapped ? "+" : ""}`;
  lines.push(fit(`  ${i.attempts} attempts to ${dests} destinations on ${i.distinctHosts} hosts; ${outcomesText(i.outcomes)}`, 79));
  if (i.lostEvents > 0) lines.push(`  WARNING: ${i.lostEvents} events lost while open; counts are lower bounds`);
  lines.push(HEADER);
  for (const p of i.processes) {
    lines.push(row(p));
    const cmd = p.cmdline?.join(" ") ?? p.exe;
    if (cmd) lines.push(fit(`           cmd: ${forTerminal(cmd)}`, 79));
    const to = [...new Set(p.sample.map((s) => s.dst))].slice(0, 3);
    if (to.length > 0) lines.push(fit(`           to: ${to.join(" ")}${p.distinctDestinations > to.length ? ` (+${p.distinctDestinations - to.length})` : ""}`, 79));
  }
  if (i.otherProcesses > 0) lines.push(`  ... and ${i.otherProcesses} more processes`);
  const top = i.topDestinations.map((d) => `${d.address.includes(":") ? `[${d.address}]` : d.address}:${d.port} x${d.attempts}`);
  if (top.length > 0) lines.push(fit(`  top destinations: ${top.join(", ")}`, 79));
  return lines.join("\n");
}

/** The periodic one-line summary. */
export function formatSummary(s: MonitorSummary, wallMs: number): string {
  const o = s.outcomes;
  const failed = o.timeout + o.aborted + o.unknown;
  const parts = [
    `${clock(wallMs)} half-open ${s.halfOpen} max ${s.maxHalfOpen}`,
    `${s.attempts} tries/${seconds(s.periodMs)} ${o.established} est ${o.refused} ref ${failed} fail`,
  ];
  if (s.openIncident !== undefined) parts.push(`INCIDENT ${s.openIncident}`);
  if (s.lostEvents > 0) parts.push(`LOST ${s.lostEvents}`);
  if (s.top) parts.push(`${forTerminal(s.top.name)}[${s.top.pid}] ${s.top.halfOpen}`);
  return fit(parts.join(" | "), 79);
}

/** The last lines, on exit. */
export function formatTotals(t: MonitorTotals): string {
  return `halfopen: ${t.attempts} attempts (${outcomesText(t.outcomes)}), ${t.incidents} incidents, ${t.lostEvents} events lost`;
}
