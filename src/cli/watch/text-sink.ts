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
import { clock, formatIncident, formatIncidentOpen, formatOsLimit, formatSummary, formatTotals, formatVerdict, seconds } from "./format.js";
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
