/**
 * Human output of `halfopen watch`: one line per incident opening, a block per
 * closed incident, a periodic summary line. Under 80 columns; every string a
 * process controls goes through forTerminal(). Pure.
 */
import type { EnforceStop } from "../../core/enforce/types.js";
import { type OutcomeCounts } from "../../core/attempt.js";
import type { IncidentReport } from "../../core/incident.js";
import type { MonitorSummary, MonitorTotals } from "../../core/monitor.js";
import type { VerdictFinding, VerdictTest } from "../../core/scan-detector.js";
import { whereText } from "../../core/attribution.js";
import { cols, fit, forTerminal, padCells } from "../sanitize.js";

/** `HH:MM:SS` of a wall-clock time, in local time. */
export function clock(wallMs: number): string {
  const d = new Date(wallMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Attempts that got no answer: timed out, dropped on this host, abandoned by the process, or end unseen. */
function failed(o: OutcomeCounts): number {
  return o.timeout + o["dropped-locally"] + o.aborted + o.unknown;
}

/** `first` then as many of `optional` as fit in `width` columns. */
export function joinFitting(first: string, optional: string[], sep: string, width = cols()): string {
  let line = first;
  for (const part of optional) {
    if (line.length + sep.length + part.length > width) break;
    line += sep + part;
  }
  return fit(line, width);
}

export function formatIncidentOpen(i: IncidentReport): string {
  const t = i.trigger;
  return fit(`${clock(i.startedAtWall)} INCIDENT ${i.id} open, ${i.limit + 1} > limit ${i.limit}: ${forTerminal(t.name)}[${t.pid}] -> ${t.dst}`, cols());
}

const HEADER = "  PID      USER     PROCESS          TRIES  PEAK   EST   REF  FAIL  PEND EXIT";

function row(p: IncidentReport["processes"][number]): string {
  const user = p.user ?? (p.uid === undefined ? "?" : String(p.uid));
  const cells = [
    String(p.pid).padEnd(8),
    padCells(fit(forTerminal(user), 8), 8),
    padCells(fit(forTerminal(p.name), 15), 15),
    String(p.attempts).padStart(6),
    String(p.peakHalfOpen).padStart(5),
    String(p.outcomes.established).padStart(5),
    String(p.outcomes.refused).padStart(5),
    String(failed(p.outcomes)).padStart(5),
    String(p.outcomes.pending).padStart(5),
    p.exited ? " yes" : "  no",
  ];
  return `  ${cells.join(" ")}`;
}

function outcomesText(o: OutcomeCounts): string {
  return `${o.established} est, ${o.refused} ref, ${failed(o)} fail, ${o.pending} pend`;
}

/** `to: a b c (+N more)`: as many sample destinations as fit, and how many were not shown. */
function destinationsLine(to: string[], distinct: number): string {
  let line = `           to: ${to[0]}`;
  let shown = 1;
  for (const d of to.slice(1)) {
    const rest = distinct - shown - 1;
    const tail = rest > 0 ? ` (+${rest} more)` : "";
    if (line.length + 1 + d.length + tail.length > cols()) break;
    line += ` ${d}`;
    shown++;
  }
  return distinct > shown ? `${line} (+${distinct - shown} more)` : line;
}

/** The block printed when an incident closes. */
export function formatIncident(i: IncidentReport): string {
  const end = i.endedAtWall ?? i.startedAtWall + i.durationMs;
  return [`${clock(end)} INCIDENT ${i.id} closed after ${seconds(i.durationMs)}: peak ${i.peak} half-open (limit ${i.limit})`, ...incidentBody(i)].join("\n");
}

/** An incident's lines after its title: counts, OS events, the process table, destinations. */
export function incidentBody(i: IncidentReport): string[] {
  const lines: string[] = [];
  const dests = `${i.distinctDestinations}${i.destinationsCapped ? "+" : ""} destinations`;
  lines.push(fit(`  ${i.attempts} attempts to ${dests} on ${plural(i.distinctHosts, "host")}: ${outcomesText(i.outcomes)}`, cols()));
  if (i.lostEvents > 0) lines.push(`  WARNING: ${i.lostEvents} events lost while open; counts are lower bounds`);
  if ((i.blindMs ?? 0) > 0) lines.push(`  WARNING: blind for up to ${seconds(i.blindMs ?? 0)} while open; counts are lower bounds`);
  const os = i.osEvents.length + i.osEventsDropped;
  if (os > 0) {
    const first = i.osEvents[0];
    lines.push(fit(`  the OS logged its own limit ${plural(os, "time")}: ${first ? `${first.source}, first at ${clock(first.timeWall)}` : ""}`, cols()));
  }
  lines.push(HEADER);
  for (const p of i.processes) {
    lines.push(row(p));
    const cmd = (p.cmdline?.join(" ") ?? p.exe ?? "").trimEnd();
    if (cmd) lines.push(fit(`           cmd: ${forTerminal(cmd)}`, cols()));
    const where = whereText(p);
    if (where) lines.push(fit(`           in: ${forTerminal(where)}`, cols()));
    if (p.via) lines.push(fit(`           sent: SYNs without connect(), via a ${p.via === "raw" ? "raw IP socket" : "packet socket"}`, cols()));
    if (p.verdict && p.verdict.verdict !== "undecided") {
      lines.push(`           verdict: ${p.verdict.verdict}${p.verdict.trusted ? " (trusted)" : ""} by ${verdictReason(p.verdict)}${p.held?.contained ? `; contained to ${p.held.contained.limit} in flight` : ""}`);
    }
    if (p.held && p.held.held > 0) lines.push(heldLine(p.held));
    // By name where a DNS answer gave one (never a reverse lookup); the address stays in the JSON.
    const to = [...new Set(p.sample.map((s) => (s.dstName !== undefined ? `${forTerminal(s.dstName)}:${s.dst.slice(s.dst.lastIndexOf(":") + 1)}` : s.dst)))];
    if (to.length > 0) lines.push(destinationsLine(to, p.distinctDestinations));
  }
  if (i.otherProcesses > 0) lines.push(`  ... and ${plural(i.otherProcesses, "more process", "more processes")}`);
  const top = i.topDestinations.map((d) => `${d.name !== undefined ? forTerminal(d.name) : d.address.includes(":") ? `[${d.address}]` : d.address}:${d.port} x${d.attempts}`);
  if (top.length > 0) lines.push(joinFitting(`  top destinations: ${top[0]}`, top.slice(1), ", "));
  return lines;
}

/** What --enforce held of a process: "held 230 attempts, median wait 2.1s, longest 4.0s; 3 given up while held". */
export function heldLine(h: { held: number; medianWaitMs: number; maxWaitMs: number; abandoned: number }): string {
  const gaveUp = h.abandoned > 0 ? `; ${h.abandoned} given up while held` : "";
  return fit(`           held: ${plural(h.held, "attempt")}, median wait ${seconds(h.medianWaitMs)}, longest ${seconds(h.maxWaitMs)}${gaveUp}`, cols());
}

/** The enforcement lines of the totals. */
export function formatEnforceTotals(e: EnforceStop): string {
  const lines = [
    `halfopen: enforced: ${plural(e.held, "attempt")} held of ${e.syns} (most in flight ${e.maxInFlight}); ${e.abandoned} given up while held; ${e.deduplicated} resent SYNs of held attempts dropped; ${e.exempt} exempt`,
  ];
  if (e.queue.overflows > 0 || e.expired > 0) lines.push(`halfopen: enforced: ${e.queue.overflows} times the queue could not take a SYN (it went unheld: fail-open); ${e.expired} slots freed after their end was never seen`);
  for (const p of e.processes.slice(0, 5)) lines.push(fit(`  ${p.name === undefined ? p.processKey : `${forTerminal(p.name)}[${p.pid}]`}: ${heldLine(p).trim()}`, cols()));
  return lines.join("\n");
}

/** An OS limit event (Windows 4226) that came while no incident was open. */
export function formatOsLimit(record: { timeWall: number; source: string; recordId?: number }): string {
  return fit(`${clock(record.timeWall)} OS LIMIT: ${record.source}${record.recordId === undefined ? "" : ` record ${record.recordId}`}, no incident open`, cols());
}

/** The periodic one-line summary: what is half-open now, and what the period brought. */
export function formatSummary(s: MonitorSummary, wallMs: number): string {
  const o = s.outcomes;
  const first = `${clock(wallMs)} half-open ${s.halfOpen} (max ${s.maxHalfOpen}) | ${s.attempts} new: ${o.established} est ${o.refused} ref ${failed(o)} fail`;
  const optional: string[] = [];
  if (s.openIncident !== undefined) optional.push(`INCIDENT ${s.openIncident}`);
  if (s.lostEvents > 0) optional.push(`LOST ${s.lostEvents}`);
  if (s.top) optional.push(`top ${forTerminal(s.top.name)}[${s.top.pid}] ${s.top.halfOpen}`);
  return joinFitting(first, optional, " | ");
}

/** The last lines, on exit. */
export function formatTotals(t: MonitorTotals, verdicts?: { scanner: number; trustedScanner: number }): string {
  const blind = t.blindMs > 0 ? `, BLIND for up to ${seconds(t.blindMs)}` : "";
  const scanners = verdicts && verdicts.scanner + verdicts.trustedScanner > 0 ? `, ${plural(verdicts.scanner, "scanner")}${verdicts.trustedScanner > 0 ? ` (+${verdicts.trustedScanner} trusted)` : ""}` : "";
  return `halfopen: ${plural(t.attempts, "attempt")}: ${outcomesText(t.outcomes)}\nhalfopen: ${plural(t.incidents, "incident")}${scanners}, ${t.lostEvents} events lost${blind}`;
}

const TEST_NAMES: Record<VerdictTest, string> = { trw: "TRW", "reverse-sht": "reverse SHT" };

/** How a verdict was reached, in a few words: `TRW after 4 first contacts`. */
export function verdictReason(v: { test?: VerdictTest; firstContacts: number }): string {
  return `${v.test ? `${TEST_NAMES[v.test]} after ` : ""}${plural(v.firstContacts, "first contact")}`;
}

/**
 * A scanner verdict as it is reached: `08:01:03 SCANNER worm[42] by TRW: 4 of
 * 4 first contacts failed in 1.0s, 4 hosts, 1 port` (as much as fits). A
 * trusted program's reads `scanner-like (trusted)`.
 */
export function formatVerdict(v: VerdictFinding, wallMs: number): string {
  const e = v.evidence;
  const head = `${clock(wallMs)} ${v.trusted ? "scanner-like (trusted)" : "SCANNER"} ${forTerminal(v.name)}[${v.pid}] by ${TEST_NAMES[v.test]}`;
  const first = `${head}: ${e.firstContactFailures} of ${plural(v.firstContacts, "first contact")} failed in ${e.secondsToVerdict.toFixed(1)}s`;
  return joinFitting(first, [plural(e.distinctHosts, "host"), plural(e.distinctPorts, "port")], ", ");
}
