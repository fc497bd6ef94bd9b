/**
 * The sinks of `halfopen scan`'s series (scanner/series.ts): the journal of
 * `--resume`, what the terminal or a pipe gets (text with a progress bar,
 * CSV rows, the JSON object or `--every`'s JSON lines), nmap XML (`-oX`) and
 * the `--on-change` hook. Each sees every round; none knows the others.
 *
 * Needs: the journal's file descriptor, standard output and error.
 */
import { fsyncSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { stringify } from "csv-stringify/sync";
import { changeLine, type ScanChange } from "../../core/scan/diff.js";
import { journalEnd, journalHost } from "../../core/scan/journal.js";
import { hostView, summaryJson, type ChangesRecord, type HostResult, type ScanOutputRecord, type ScanSpec, type ScanSummary, type ScanSummaryJson } from "../../core/scan/model.js";
import { nmapXml } from "../../core/scan/nmap-xml.js";
import { grepable } from "../../core/scan/grepable.js";
import { InOrder } from "../../core/scan/in-order.js";
import { scanProgress, shortDuration } from "../../core/scan/progress.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { RoundEnd, RoundStart, ScanSink } from "../../scanner/series.js";
import { VERSION } from "../../version.js";
import { cols, csvSafe, fit } from "../sanitize.js";
import type { HookSink } from "../watch/hook-sink.js";
import type { ScanCliOptions } from "./command.js";
import { CSV_HEADER, clock, hostLines, say, summaryLines } from "./format.js";

/** `--resume`: one line per finished host as it finishes; the end line (and an fsync) when the scan completes. */
export function journalSink(fd: number): ScanSink {
  return {
    host: (h, prior) => {
      if (!prior) writeSync(fd, journalHost(h));
    },
    roundEnd: (r) => {
      if (!r.complete) return;
      writeSync(fd, journalEnd(r.summary));
      fsyncSync(fd);
    },
  };
}

/** Writes `text` to `file` whole (a temporary file renamed: a reader never sees half of it). */
function replaceFile(file: string, option: string, text: string): void {
  try {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write ${option} "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const commandLine = () => `halfopen scan ${process.argv.slice(3).join(" ")}`;

/** `-oN FILE`: the text output (hosts that are up, the summary), never cut; each round replaces it. */
export function normalFileSink(file: string, spec: ScanSpec): ScanSink {
  return {
    roundEnd: (r) => {
      const lines = [`# ${commandLine()}`, ...r.hosts.filter((h) => h.status === "up").flatMap((h) => hostLines(h, Number.POSITIVE_INFINITY)), ...summaryLines(r.summary, spec.maxHalfOpen, Number.POSITIVE_INFINITY, spec.ports.length > 0)];
      replaceFile(file, "-oN", `${lines.join("\n")}\n`);
    },
  };
}

/** `-oG FILE` (or `-` for standard output): nmap's grepable format; each round replaces the file. */
export function grepableSink(file: string, spec: ScanSpec): ScanSink {
  return {
    roundEnd: (r) => {
      const text = grepable({ args: commandLine(), version: VERSION, startedAt: r.summary.startedAt, endedAt: r.summary.startedAt + r.summary.elapsedMs, hosts: r.hosts, total: r.summary.total, portScan: spec.ports.length > 0, aborted: r.summary.aborted });
      if (file === "-") process.stdout.write(text);
      else replaceFile(file, "-oG", text);
    },
  };
}

/** `-oX FILE`: the round's XML, replaced whole (with --every, a reader never sees half a file). */
export function xmlSink(file: string, spec: ScanSpec): ScanSink {
  return {
    roundEnd: (r) => {
      const xml = nmapXml({
        args: commandLine(),
        version: `halfopen-${VERSION}`,
        startedAt: r.summary.startedAt,
        endedAt: r.summary.startedAt + r.summary.elapsedMs,
        ports: spec.ports,
        hosts: r.hosts,
        up: r.summary.up,
        down: r.summary.down,
        aborted: r.summary.aborted,
      });
      replaceFile(file, "-oX", xml);
    },
  };
}

/** The record an --on-change program reads, and a --json line of --every. */
export function changeRecord(r: RoundEnd): ChangesRecord {
  return { type: "changes", round: r.round, scanId: r.scanId, previousScanId: r.previous?.scanId, atWall: r.summary.startedAt + r.summary.elapsedMs, at: new Date(r.summary.startedAt + r.summary.elapsedMs).toISOString(), changes: r.changes, up: r.summary.up, open: r.summary.open };
}

/** `--on-change CMD`: the round's changes, when there are any. */
export function hookSink(hook: HookSink): ScanSink {
  return {
    roundEnd: (r) => {
      if (r.changes.length > 0) hook.send(changeRecord(r));
    },
  };
}

type Bar = { update(done: number, payload: object): void };
/** A progress display (cli-progress's MultiBar): bars, and lines printed above them. */
export type Multi = { create(total: number, start: number, payload: object): Bar; log(s: string): void; stop(): void };

/** The progress bar's scale: per mille of the work (scanProgress). */
export const PROGRESS_SCALE = 1000;

/**
 * What standard output gets: hosts in the order the scan walks them (text,
 * with a progress bar on standard error when it is a terminal, or CSV rows),
 * then the end of a single scan (the JSON object, or the summary lines) or,
 * with `--every`, each round's changes. From the second round of `--every`
 * on, only changes are printed. With `-oG -` standard output is the grepable
 * format's, so no text goes there.
 */
export function outputSink(o: ScanCliOptions, spec: ScanSpec, makeMulti?: () => Multi): ScanSink {
  const text = !o.json && !o.csv && o.outputGrepable !== "-";
  let multi: Multi | undefined;
  let csvHeader = false;
  let quiet = false;
  let inOrder: InOrder<HostResult> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let priorUp = 0;
  let priorOpen = 0;
  const print = (lines: string[]) => {
    const s = `${lines.join("\n")}\n`;
    if (multi) multi.log(s);
    else process.stdout.write(s);
  };
  const csvRows = (list: HostResult[]) => {
    const rows = list.flatMap((host) => host.ports.map((p) => [host.address, String(p.port), p.state, p.reason, p.rttMs === undefined ? "" : p.rttMs.toFixed(3), p.banner === undefined ? "" : csvSafe(p.banner)]));
    if (!csvHeader) {
      rows.unshift(CSV_HEADER);
      csvHeader = true;
    }
    process.stdout.write(stringify(rows));
  };
  const emit = (h: HostResult) => {
    if (h.status !== "up" || quiet) return;
    if (text) print(hostLines(h));
    else if (o.csv) csvRows([h]);
  };
  /** The bar, from the round's first moment: work done in probes, the rate, a steady ETA. */
  const startProgress = (r: RoundStart) => {
    if (!multi) return;
    const bar = multi.create(PROGRESS_SCALE, 0, { probes: 0, rate: "0", left: "?", done: 0, up: 0, open: 0 });
    const update = () => {
      const s = r.scan.summary();
      const p = scanProgress(s, spec.ports.length, spec.discovery !== "none", Date.now());
      bar.update(Math.round(p.fraction * PROGRESS_SCALE), { probes: s.probes, rate: p.probesPerSecond.toFixed(0), left: p.etaMs === undefined ? "?" : shortDuration(p.etaMs), done: s.done, up: s.up + priorUp, open: s.open + priorOpen });
    };
    update();
    timer = setInterval(update, 250);
    timer.unref();
  };
  return {
    roundStart: (r) => {
      quiet = o.every !== undefined && r.round > 1;
      inOrder = new InOrder(r.order());
      multi = makeMulti?.();
      startProgress(r);
    },
    host: (h, prior) => {
      if (prior) {
        priorUp++;
        priorOpen += h.ports.filter((p) => p.state === "open").length;
        emit(h);
        return;
      }
      for (const due of inOrder?.push(h) ?? [h]) emit(due);
    },
    roundEnd: (r) => {
      for (const due of inOrder?.rest() ?? []) emit(due);
      if (timer) clearInterval(timer);
      timer = undefined;
      multi?.stop();
      multi = undefined;
      if (o.csv && !csvHeader) process.stdout.write(stringify([CSV_HEADER]));
      if (o.outputGrepable === "-") {
        if (r.summary.aborted) process.exitCode = 130;
        return;
      }
      if (o.every === undefined) endOfScan(r, spec, o);
      else endOfRound(r, spec, o);
      if (r.summary.aborted) process.exitCode = 130;
      if (r.nextAt !== undefined && !o.json) say(`next round at ${clock(Math.max(r.nextAt, Date.now()))} (every ${(o.every ?? 0) / 1000}s; Ctrl-C stops)`);
    },
  };
}

const summaryOf = (s: ScanSummary, spec: ScanSpec): ScanSummaryJson => summaryJson(s, spec.maxHalfOpen, spec.ports.length);
const line = (record: ScanOutputRecord) => process.stdout.write(`${JSON.stringify(record)}\n`);

/** A single scan's end: the JSON object, or the summary lines with the changes since the previous stored scan. */
export function endOfScan(r: Pick<RoundEnd, "hosts" | "summary" | "scanId" | "previous" | "changes">, spec: ScanSpec, o: ScanCliOptions): void {
  const previousScanId = r.previous?.scanId;
  if (o.json) {
    line({ type: "scan", hosts: r.hosts.map(hostView), summary: summaryOf(r.summary, spec), ...(r.scanId === undefined ? {} : { scanId: r.scanId }), ...(previousScanId === undefined ? {} : { previousScanId }), changes: r.changes });
    return;
  }
  if (o.csv) return;
  const lines = summaryLines(r.summary, spec.maxHalfOpen, cols(), spec.ports.length > 0);
  if (r.scanId !== undefined) {
    if (previousScanId === undefined) lines.push(`halfopen: stored as scan #${r.scanId}`);
    else {
      lines.push(fit(`halfopen: stored as scan #${r.scanId}; ${plural(r.changes)} since scan #${previousScanId} (halfopen scans diff ${previousScanId} ${r.scanId})`, cols()));
      lines.push(...r.changes.slice(0, 20).map((c) => fit(`  ${changeLine(c)}`, cols())));
      if (r.changes.length > 20) lines.push(`  ... ${r.changes.length - 20} more`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

const plural = (changes: readonly ScanChange[]) => `${changes.length} change${changes.length === 1 ? "" : "s"}`;

/** One round of --every: its changes as lines (or JSON lines), then a line about the round. */
function endOfRound(r: RoundEnd, spec: ScanSpec, o: ScanCliOptions): void {
  const at = r.summary.startedAt + r.summary.elapsedMs;
  const previousScanId = r.previous?.scanId;
  if (o.json) {
    const ids = { ...(r.scanId === undefined ? {} : { scanId: r.scanId }), ...(previousScanId === undefined ? {} : { previousScanId }) };
    for (const c of r.changes) line({ type: "change", round: r.round, ...ids, atWall: at, at: new Date(at).toISOString(), ...c });
    line({ type: "round", round: r.round, ...ids, complete: r.complete, changes: r.changes.length, hosts: r.hosts.map(hostView), summary: summaryOf(r.summary, spec) });
  } else {
    if (r.round === 1) process.stdout.write(`${summaryLines(r.summary, spec.maxHalfOpen, cols(), spec.ports.length > 0).join("\n")}\n`);
    for (const c of r.changes) process.stdout.write(`${fit(`${clock(at)} ${changeLine(c)}`, cols())}\n`);
    const since = previousScanId === undefined ? "nothing to compare" : `${plural(r.changes)} since scan #${previousScanId}`;
    process.stdout.write(`${fit(`halfopen: round ${r.round}${r.scanId === undefined ? "" : ` (scan #${r.scanId})`} ${clock(at)}: ${r.complete ? "" : "interrupted, "}${r.summary.up} up, ${r.summary.open} open; ${since}`, cols())}\n`);
  }
}
