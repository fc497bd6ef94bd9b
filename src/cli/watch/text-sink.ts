/**
 * The terminal sink of `halfopen watch` (the default, without `--json`):
 * the start lines, a line when an incident opens, a block when it closes,
 * summaries, warnings and the totals, under 80 columns (format.ts). Notes go
 * to stdout, warnings to stderr. Every string a process controls goes
 * through forTerminal().
 *
 * Needs: stdout, stderr.
 */
import { isOutput } from "../../core/monitor.js";
import { cols, fit, forTerminal } from "../sanitize.js";
import type { ContainFinding, HoldFinding } from "../../core/enforce/types.js";
import { clock, formatEnforceTotals, formatIncident, formatIncidentOpen, formatOsLimit, formatSummary, formatTotals, formatVerdict, seconds } from "./format.js";
import { shownIncident } from "./records.js";
import type { FindingItem, Sink, StartItem, WatchItem } from "./sink.js";
import type { WatchStdout } from "./stdout.js";

export class TextSink implements Sink {
  readonly name = "text";
  readonly #out: WatchStdout;
  readonly #wallOffsetMs: number;

  constructor(out: WatchStdout, wallOffsetMs: number) {
    this.#out = out;
    this.#wallOffsetMs = wallOffsetMs;
  }

  write(item: WatchItem): void {
    const out = (line: string) => this.#out.line(line);
    switch (item.kind) {
      case "start":
        this.#start(item);
        break;
      case "finding":
        this.#finding(item);
        break;
      case "summary":
        out(formatSummary(item.summary, item.summary.time + this.#wallOffsetMs));
        break;
      case "warning":
        if (item.level === "note") out(`halfopen: note: ${forTerminal(item.message)}`);
        else process.stderr.write(`halfopen: warning: ${forTerminal(item.message)}\n`);
        break;
      case "stored":
        out(`halfopen: note: incident ${item.runIncident} of this run is stored now, as incident ${item.id}`);
        break;
      case "stop":
        out(formatTotals(item.totals, item.verdicts));
        if (item.enforce) out(formatEnforceTotals(item.enforce));
        break;
    }
  }

  #start(s: StartItem): void {
    const out = (line: string) => this.#out.line(line);
    if (s.fallback) out(`halfopen: note: ${forTerminal(s.fallback)}`);
    const doing = s.replay ? "replaying recorded TCP connects" : `watching outbound TCP connects with ${s.source.name}`;
    out(`halfopen: ${doing}; limit ${s.limit} half-open${s.filtered ? " (filtered)" : ""}; Ctrl-C stops`);
    const seen = Number(s.source.details?.().seenAtStart ?? 0);
    if (seen > 0) out(`halfopen: ${seen} attempt${seen === 1 ? " was" : "s were"} already half-open at start; counted from now`);
    for (const c of s.source.caveats) out(`halfopen: note: ${forTerminal(c)}`);
    if (s.enforce) {
      const e = s.enforce;
      out(fit(`halfopen: ${e.dryRun ? "dry run: would hold" : "holding"} SYNs past ${e.limit} in flight per ${e.per}${e.netns ? ` in netns ${forTerminal(e.netns)}` : ""}, released ${e.release === "slot" ? "when a slot frees" : `at ${e.release.slice(5)}`}${e.containScanners ? `; scanners contained to ${e.containScanners}` : ""}`, cols()));
      out(fit(`halfopen: steering: ${e.steering}`, cols()));
    }
    out(`halfopen: ${s.db ? `storing incidents in ${s.db}` : `not storing incidents (${s.notStoring ?? "--no-store"})`}${s.metrics ? `; metrics at ${s.metrics}` : ""}`);
  }

  #finding(item: FindingItem): void {
    const o = item.finding;
    const out = (line: string) => this.#out.line(line);
    const at = (t: number) => clock(t + this.#wallOffsetMs);
    if (isOutput(o, "lost")) {
      out(`${at(o.time)} WARNING: ${o.count} events lost${o.cpu === undefined ? "" : ` on cpu ${o.cpu}`}; attempts may be missing or end as unknown`);
    } else if (isOutput(o, "blind")) {
      out(`${at(o.time)} WARNING: BLIND for up to ${seconds(o.durationMs)}: attempts in that time were not seen`);
      out(fit(`  ${forTerminal(o.reason)}`, cols()));
    } else if (isOutput(o, "verdict")) {
      // Scanner verdicts are alerts (a trusted program's, a note); benign ones only go to --json.
      if (o.verdict === "scanner") out(formatVerdict(o, o.time + this.#wallOffsetMs));
    } else if (o.type === "enforce-hold") {
      const h = o as HoldFinding;
      const who = h.name === undefined ? "" : `, first held: ${forTerminal(h.name)}[${h.pid}]`;
      out(fit(`${at(o.time)} HOLDING: ${h.limit} attempts in flight (${forTerminal(h.scope)}); further SYNs ${h.dryRun ? "would be" : "are"} held${who}`, cols()));
    } else if (o.type === "contained") {
      const c = o as ContainFinding;
      out(fit(`${at(o.time)} CONTAINED ${forTerminal(c.name)}[${c.pid}]: judged a scanner; at most ${c.limit} attempt${c.limit === 1 ? "" : "s"} in flight from now`, cols()));
    } else if (isOutput(o, "os-limit")) {
      out(formatOsLimit(o.record));
    } else if (isOutput(o, "incident-open") || isOutput(o, "incident")) {
      const { incident } = shownIncident(item, o.incident);
      out(o.type === "incident-open" ? formatIncidentOpen(incident) : formatIncident(incident));
    } else {
      // A finding of another detector: shown as data until it has a format of its own.
      out(fit(`${at(o.time)} ${forTerminal(o.type.toUpperCase())} ${forTerminal(JSON.stringify({ ...o, type: undefined, time: undefined }))}`, cols()));
    }
  }
}
