/**
 * What `halfopen scan` does once its options are parsed (command.ts): read
 * target and exclude files, run the scanner, print hosts as they finish
 * (with a progress bar on a terminal), or one JSON object, or CSV rows, and
 * write nmap XML. Ctrl-C stops the scan and prints what was found.
 *
 * Around one scan (a round):
 * - `--resume FILE`: a journal (core/scan/journal.ts) gets one line per
 *   finished host; a journal that exists is continued, skipping its hosts,
 *   and its hosts are part of the output as if scanned now.
 * - the scan is stored in the database (store/scan-history.ts) in batches as
 *   hosts finish, and compared with the previous stored scan of the same
 *   targets and ports (core/scan/diff.ts);
 * - `--every`: rounds start that far apart (or at once, after a round that
 *   took longer); from the second round on, only changes are printed;
 * - `--on-change CMD`: run with the round's changes on stdin when there are
 *   any (hook-sink.ts: argv, never a shell, one at a time, timeout).
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { stringify } from "csv-stringify/sync";
import { changeLine, compareAddresses, diffScans, type ScanChange } from "../../core/scan/diff.js";
import { excerpt } from "../../core/process-text.js";
import { JournalReader, journalEnd, journalHeader, journalHost, specMismatch, type Journal, type ScanSpec } from "../../core/scan/journal.js";
import { readLines } from "../../platform/line-file.js";
import { defaultDbPath } from "../../store/db-path.js";
import { refuseCollisions, type RunPath } from "../paths.js";
import { nmapXml } from "../../core/scan/nmap-xml.js";
import { DEFAULT_PORTS, parsePorts } from "../../core/scan/targets.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { isAlive, readIdentity } from "../../platform/process-identity.js";
import { checkScanSize, DISCOVERY_PORTS, resolveTargets, scan, type HostResult, type PreparedTargets, type ScanSummary } from "../../scanner/scan.js";
import type { IncidentStore } from "../../store/incident-store.js";
import { HostBatches, type ScanHistory } from "../../store/scan-history.js";
import { VERSION } from "../../version.js";
import type { HookSink } from "../watch/hook-sink.js";
import { csvSafe, fit, forTerminal } from "../sanitize.js";
import type { ScanCliOptions } from "./command.js";

/** Entries a target or exclude file may hold (each an address, a range, a CIDR block or a name, kept as text for the journal and the database). */
export const MAX_LIST_ENTRIES = 250_000;

/**
 * Entries of a target or exclude file: whitespace- or comma-separated, `#`
 * comments. Read line by line (a regular file only; lines of at most 64 KiB),
 * at most MAX_LIST_ENTRIES entries in all: a larger list is refused
 * (INPUT_TOO_LARGE) before it fills memory.
 */
async function readList(file: string, what: string, into: string[]): Promise<void> {
  for await (const line of readLines(file, { what: `${what} file`, maxLineBytes: 64 * 1024 })) {
    for (const entry of line.text.replace(/#.*/, "").split(/[\s,]+/)) {
      if (entry === "") continue;
      if (into.length >= MAX_LIST_ENTRIES)
        throw new HalfOpenError(ErrorCodes.INPUT_TOO_LARGE, `Cannot read the ${what} file "${file}": more than ${MAX_LIST_ENTRIES.toLocaleString("en")} entries (at line ${line.number}); give CIDR blocks or ranges instead of single addresses, or split the list and scan each part`);
      into.push(entry);
    }
  }
}

/** Lines a resume journal may have (one per finished address, up or down). */
const MAX_JOURNAL_LINES = 20_000_000;

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());

/** The files this scan reads and writes: none may be another (refuseCollisions). */
function checkOutputPaths(o: ScanCliOptions): void {
  const paths: RunPath[] = [
    ...(o.inputList ?? []).map((path) => ({ option: "--input-list", path, role: "input" as const })),
    ...(o.excludeFile ?? []).map((path) => ({ option: "--exclude-file", path, role: "input" as const })),
    ...(o.resume === undefined ? [] : [{ option: "--resume", path: o.resume, role: "output" as const }]),
    ...(o.xml === undefined ? [] : [{ option: "--xml", path: o.xml, role: "output" as const }]),
    ...(o.store ? [{ option: "--db", path: o.db ?? defaultDbPath(), role: "database" as const }] : []),
  ];
  refuseCollisions(paths);
}

/** One host, as the terminal shows it (everything the target controls escaped). */
export function hostLines(h: HostResult): string[] {
  const names = h.names?.length ? ` (${h.names.map(forTerminal).join(", ")})` : "";
  const rtt = h.times ? `, ${ms(h.times.srttMs)} ms` : "";
  const lines = [fit(`${h.address}${names} up${rtt}`, 79)];
  const shown = h.ports.filter((p) => p.state === "open" || p.state === "unknown");
  const counts = new Map<string, number>();
  for (const p of h.ports) if (!shown.includes(p)) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  for (const p of shown) {
    const banner = p.banner === undefined ? "" : `  ${forTerminal(p.banner.replace(/\r?\n$/, ""))}`;
    lines.push(fit(`  ${`${p.port}/tcp`.padEnd(10)}${p.state.padEnd(9)}${p.reason}${banner}`, 79));
  }
  if (counts.size > 0)
    lines.push(
      `  not shown: ${[...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([s, n]) => `${n} ${s}`)
        .join(", ")}`,
    );
  return lines;
}

/** Words wrapped at 79 columns. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > 79) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function summaryLines(s: ScanSummary, budget: number): string[] {
  const discovery = {
    raw: "discovery: ICMP echo + TCP ACK",
    "ping-socket": `discovery: ICMP + connect ${DISCOVERY_PORTS.join(",")}`,
    connect: `discovery: connect ${DISCOVERY_PORTS.join(",")}`,
    none: "no discovery (-Pn)",
  }[s.discovery];
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  return [
    fit(`halfopen: ${s.aborted ? "interrupted after" : "scanned"} ${s.done}/${plural(s.total, "address", "addresses")} in ${(s.elapsedMs / 1000).toFixed(1)}s: ${s.up} up, ${s.down} down, ${plural(s.open, "open port")}${s.unknown ? `, ${s.unknown} unknown` : ""}`, 79),
    fit(`halfopen: at most ${s.peakInFlight} in SYN_SENT (budget ${budget}); ${discovery}`, 79),
    ...(s.discoveryNote ? wrap(`halfopen: ${s.discoveryNote}`) : []),
  ];
}


const CSV_HEADER = ["address", "port", "state", "reason", "rtt_ms", "banner"];
const hostJson = (h: HostResult) => ({
  address: h.address,
  ...(h.names ? { names: h.names } : {}),
  status: h.status,
  reason: h.reason,
  ports: h.ports.map((p) => ({ port: p.port, state: p.state, reason: p.reason, ...(p.rttMs === undefined ? {} : { rttMs: p.rttMs }), ...(p.banner === undefined ? {} : { banner: p.banner }) })),
});
const clock = (t: number) => new Date(t).toTimeString().slice(0, 8);
const say = (line: string) => process.stderr.write(`${wrap(`halfopen: ${line}`).join("\n")}\n`);

/** The journal of --resume: what it holds, and the descriptor new lines go to. */
interface ResumeJournal {
  file: string;
  fd: number;
  prior: Journal | undefined;
}

function openJournal(file: string, spec: ScanSpec, prior: Journal | undefined): ResumeJournal {
  try {
    if (prior) truncateSync(file, prior.validBytes); // a torn last line goes
    else writeFileSync(file, journalHeader(spec, Date.now()), { flag: "wx" });
    return { file, fd: openSync(file, "a"), prior };
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write the resume journal "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** What one round found, with the journal's hosts counted in. */
interface Round {
  hosts: HostResult[];
  summary: ScanSummary;
  complete: boolean;
  scanId?: number;
  previousScanId?: number;
  changes: ScanChange[];
}

export async function runScan(positional: string[], o: ScanCliOptions, given: (option: string) => boolean = () => true): Promise<void> {
  checkOutputPaths(o);
  const cliTargets = [...positional];
  for (const f of o.inputList ?? []) await readList(f, "target", cliTargets);
  const excludes = [...(o.exclude ?? [])];
  for (const f of o.excludeFile ?? []) await readList(f, "exclude", excludes);
  if ([o.json, o.csv].filter(Boolean).length > 1) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --json and --csv together");
  if (o.every !== undefined && o.resume !== undefined) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --every with --resume: every round is a whole scan, stored in the database");
  if (o.every !== undefined && o.csv) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --every with --csv: use --json (one JSON line per change and per round)");
  if ((o.every !== undefined || o.onChange !== undefined) && !o.store) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${o.every !== undefined ? "--every" : "--on-change"} with --no-store: changes are found by comparing stored scans`);
  // Loaded only when used: a scan under a tiny descriptor limit must still load its modules.
  const hooks = o.onChange === undefined ? undefined : await import("../watch/hook-sink.js");
  const hookCommand = o.onChange === undefined || !hooks ? undefined : hooks.hookArgv("--on-change", o.onChange);
  if (hookCommand && hooks) hooks.checkHookProgram("--on-change", hookCommand);

  // What to scan: the command line's, or the journal's when resuming.
  let prior: Journal | undefined;
  if (o.resume !== undefined && existsSync(o.resume)) {
    const reader = new JournalReader(o.resume);
    for await (const line of readLines(o.resume, { what: "resume journal", maxLineBytes: 1024 * 1024, maxLines: MAX_JOURNAL_LINES, openCode: ErrorCodes.BAD_RESUME })) reader.line(line.text, line.number, line.terminated, line.endOffset);
    prior = reader.result();
  }
  const bannerMs = o.banner === undefined ? undefined : (typeof o.banner === "number" ? o.banner : 1) * 1000;
  let spec: ScanSpec;
  if (prior && cliTargets.length === 0) {
    spec = { ...prior.spec };
    if (given("maxHalfOpen")) spec.maxHalfOpen = o.maxHalfOpen;
    if (given("retries")) spec.retries = o.retries;
    if (bannerMs !== undefined) spec.bannerMs = bannerMs;
  } else {
    if (cliTargets.length === 0) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot scan: no targets (give addresses, ranges or names, or -iL FILE)");
    spec = {
      targets: cliTargets,
      exclude: excludes,
      ports: o.ports === undefined ? [...DEFAULT_PORTS] : parsePorts(o.ports),
      discovery: o.discovery ? o.discoveryMethod : "none",
      maxHalfOpen: o.maxHalfOpen,
      retries: o.retries,
      ...(o.shard ? { shard: o.shard } : {}),
      ...(bannerMs === undefined ? {} : { bannerMs }),
    };
    if (prior) {
      const why = specMismatch(prior.spec, spec);
      if (why) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${o.resume}": it holds another scan (${why}); run \`halfopen scan --resume ${o.resume}\` alone to continue it, or delete it`);
    }
  }
  const prepared = await resolveTargets(spec);
  // A journal is input like a command line: a large scan needs --yes when resumed too.
  checkScanSize(prepared, spec.shard, o.yes === true);
  if (prior) {
    const stray = prior.hosts.find((h) => !prepared.set.includes(h.address, spec.shard));
    if (stray) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${o.resume}": it holds a result for ${excerpt(stray.address, 60)}, which is not among its scan's targets${spec.shard ? ` (shard ${spec.shard.index}/${spec.shard.count})` : ""}; it is not a journal this scan wrote (nothing was changed)`);
  }

  if (prior?.complete) {
    // Nothing to scan: print the finished scan as it was.
    say(`${o.resume} holds a finished scan (${prior.hosts.length} hosts); printing it as stored. Delete it to scan again.`);
    const hosts = prior.hosts as HostResult[];
    const up = hosts.filter((h) => h.status === "up");
    const summary = { ...emptySummary(spec, prior.startedAt), ...(prior.endSummary as Partial<ScanSummary> | undefined), total: checkScanSize(prepared, spec.shard, true), done: hosts.length, skipped: hosts.length, up: up.length, down: hosts.length - up.length, open: countPorts(up, "open"), unknown: countPorts(up, "unknown") };
    emit({ hosts: up, summary, complete: true, changes: [] }, spec, o);
    return;
  }

  const journal = o.resume === undefined ? undefined : openJournal(o.resume, spec, prior);
  let store: IncidentStore | undefined;
  let history: ScanHistory | undefined;
  if (o.store) {
    const { IncidentStore, defaultDbPath } = await import("../../store/incident-store.js");
    const path = o.db ?? defaultDbPath();
    try {
      store = IncidentStore.open({ path, createDirectory: o.db === undefined && !process.env.HALFOPEN_DB, isRunAlive: isAlive });
      history = store.scans();
      history.prune(Date.now() - store.retention.maxAgeMs);
    } catch (e) {
      // A scan that only stores by default still runs; one that needs the history (or named its --db) does not.
      if (o.db !== undefined || o.every !== undefined || o.onChange !== undefined) throw e;
      store?.close();
      store = undefined;
      history = undefined;
      say(`${(e as Error).message}; scanning without storing (--no-store says so quietly)`);
    }
  }
  const hook: HookSink | undefined = hookCommand && hooks
    ? new hooks.HookSink({ option: "--on-change", argv: hookCommand, select: () => undefined, timeoutMs: o.hookTimeout * 1000, publish: (item) => "message" in item && say(item.message) })
    : undefined;

  const controller = new AbortController();
  let stopping = false;
  const onSigint = () => {
    stopping = true;
    controller.abort();
  };
  process.once("SIGINT", onSigint);
  try {
    for (let round = 1; ; round++) {
      const roundStarted = Date.now();
      const r = await runRound(spec, prepared, o, controller.signal, journal, history, round, o.every !== undefined && round > 1);
      if (o.every === undefined) {
        emit(r, spec, o);
        if (hook && r.changes.length > 0) hook.send(changeRecord(r, round));
        break;
      }
      emitRound(r, round, spec, o);
      if (hook && r.changes.length > 0) hook.send(changeRecord(r, round));
      if (stopping) break;
      const next = roundStarted + o.every;
      if (!o.json) say(`next round at ${clock(Math.max(next, Date.now()))} (every ${o.every / 1000}s; Ctrl-C stops)`);
      await delay(Math.max(0, next - Date.now()), undefined, { signal: controller.signal }).catch(() => undefined); // Ctrl-C ends the wait
      if (stopping) break;
    }
  } finally {
    process.removeListener("SIGINT", onSigint);
    if (journal) closeSync(journal.fd);
    await hook?.finish();
    hook?.close();
    store?.close();
  }
}

const countPorts = (hosts: readonly HostResult[], state: string) => hosts.reduce((n, h) => n + h.ports.filter((p) => p.state === state).length, 0);

function emptySummary(spec: ScanSpec, startedAt: number): ScanSummary {
  return { total: 0, done: 0, skipped: 0, up: 0, down: 0, open: 0, unknown: 0, probes: 0, retries: 0, localErrors: 0, peakInFlight: 0, discovery: spec.discovery === "none" ? "none" : "connect", discoveryMs: 0, aborted: false, startedAt, elapsedMs: 0 };
}

/** One scan: journal, store and print as hosts finish; the changes since the previous stored scan. */
async function runRound(spec: ScanSpec, prepared: PreparedTargets, o: ScanCliOptions, signal: AbortSignal, journal: ResumeJournal | undefined, history: ScanHistory | undefined, round: number, quiet: boolean): Promise<Round> {
  const prior = (journal?.prior?.hosts ?? []) as HostResult[];
  const run = scan({
    targets: spec.targets,
    exclude: spec.exclude,
    ports: spec.ports,
    maxHalfOpen: spec.maxHalfOpen,
    discovery: spec.discovery,
    retries: spec.retries,
    allowLarge: true,
    signal,
    prepared,
    ...(spec.shard ? { shard: spec.shard } : {}),
    ...(spec.bannerMs === undefined ? {} : { bannerMs: spec.bannerMs }),
    ...(prior.length > 0 ? { skip: new Set(prior.map((h) => h.address)) } : {}),
  });
  const self = readIdentity(process.pid);
  let scanId: number | undefined;
  const storeFailed = (e: unknown) => {
    say(`${(e as Error).message}; this scan is not stored (its results are printed)`);
    history = undefined;
  };
  try {
    scanId = history?.begin({ startedAt: Date.now(), pid: process.pid, ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }), hostname: hostname(), version: VERSION, spec });
    if (scanId !== undefined) history?.addHosts(scanId, prior);
  } catch (e) {
    storeFailed(e);
  }
  const priorUp = prior.filter((h) => h.status === "up");
  if (prior.length > 0 && !o.json) say(`resuming ${journal?.file}: ${prior.length} addresses already done (${priorUp.length} up); scanning the rest`);

  const text = !o.json && !o.csv;
  const hosts: HostResult[] = [...priorUp];
  const showBar = text && o.progress && process.stderr.isTTY === true;
  const { MultiBar, Presets } = showBar ? await import("cli-progress") : { MultiBar: undefined, Presets: undefined };
  const multi = MultiBar && Presets ? new MultiBar({ stream: process.stderr, barsize: 20, hideCursor: true, clearOnComplete: true, format: "{bar} {value}/{total} hosts | {rate}/s | ETA {eta_formatted} | {up} up, {open} open" }, Presets.shades_classic) : undefined;
  let bar: ReturnType<NonNullable<typeof multi>["create"]> | undefined;
  const print = (lines: string[]) => {
    const s = `${lines.join("\n")}\n`;
    if (multi) multi.log(s);
    else process.stdout.write(s);
  };
  let csvHeader = false;
  const csvRows = (list: HostResult[]) => {
    const rows = list.flatMap((host) => host.ports.map((p) => [host.address, String(p.port), p.state, p.reason, p.rttMs === undefined ? "" : p.rttMs.toFixed(3), p.banner === undefined ? "" : csvSafe(p.banner)]));
    if (!csvHeader) {
      rows.unshift(CSV_HEADER);
      csvHeader = true;
    }
    process.stdout.write(stringify(rows));
  };
  if (!quiet) {
    if (text) for (const h of priorUp) print(hostLines(h));
    else if (o.csv && priorUp.length > 0) csvRows(priorUp);
  }
  const batches = new HostBatches(history, scanId, storeFailed);
  try {
    for await (const host of run) {
      if (journal) writeSync(journal.fd, journalHost(host));
      const s = run.summary();
      if (multi) {
        bar ??= multi.create(s.total, 0, { rate: "0", up: 0, open: 0 });
        bar.update(s.done, { rate: ((s.done - s.skipped) / Math.max(0.001, (Date.now() - s.startedAt) / 1000)).toFixed(1), up: s.up + priorUp.length, open: s.open + countPorts(priorUp, "open") });
      }
      if (host.status !== "up") continue;
      hosts.push(host);
      batches.add(host);
      if (quiet) continue;
      if (text) print(hostLines(host));
      else if (o.csv) csvRows([host]);
    }
  } finally {
    multi?.stop();
    batches.flush();
  }
  const s = run.summary();
  const summary: ScanSummary = { ...s, up: s.up + priorUp.length, down: s.down + prior.length - priorUp.length, open: s.open + countPorts(priorUp, "open"), unknown: s.unknown + countPorts(priorUp, "unknown") };
  const complete = !summary.aborted;
  if (journal && complete) {
    writeSync(journal.fd, journalEnd(summary));
    fsyncSync(journal.fd);
  }
  if (o.csv && !csvHeader) process.stdout.write(stringify([CSV_HEADER]));
  hosts.sort((a, b) => compareAddresses(a.address, b.address));
  const out: Round = { hosts, summary, complete, changes: [] };
  if (history && scanId !== undefined) {
    try {
      history.end(scanId, complete ? "done" : "interrupted", Date.now(), { ...summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length, round });
      out.scanId = scanId;
      const previous = history.previous(spec, scanId);
      if (previous) {
        out.previousScanId = previous.id;
        out.changes = diffScans({ hosts: history.hosts(previous.id), ports: previous.spec.ports, complete: previous.state === "done" }, { hosts, ports: spec.ports, complete });
      }
    } catch (e) {
      storeFailed(e);
    }
  }
  return out;
}

/** The record an --on-change program reads, and a --json line of --every. */
function changeRecord(r: Round, round: number): object {
  return { type: "changes", round, scanId: r.scanId, previousScanId: r.previousScanId, at: new Date(r.summary.startedAt + r.summary.elapsedMs).toISOString(), changes: r.changes, up: r.summary.up, open: r.summary.open };
}

function writeXml(spec: ScanSpec, o: ScanCliOptions, r: Round): void {
  if (o.xml === undefined) return;
  const xml = nmapXml({
    args: `halfopen scan ${process.argv.slice(3).join(" ")}`,
    version: `halfopen-${VERSION}`,
    startedAt: r.summary.startedAt,
    endedAt: r.summary.startedAt + r.summary.elapsedMs,
    ports: spec.ports,
    hosts: r.hosts,
    up: r.summary.up,
    down: r.summary.down,
    aborted: r.summary.aborted,
  });
  try {
    // Replaced whole: with --every, a reader never sees half a file.
    writeFileSync(`${o.xml}.tmp`, xml);
    renameSync(`${o.xml}.tmp`, o.xml);
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write the XML to "${o.xml}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A single scan's end: the JSON object, the XML, the summary lines. */
function emit(r: Round, spec: ScanSpec, o: ScanCliOptions): void {
  const summary = r.summary;
  if (o.json) {
    const out = {
      type: "scan",
      hosts: r.hosts.map(hostJson),
      summary: { ...summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length },
      ...(r.scanId === undefined ? {} : { scanId: r.scanId }),
      ...(r.previousScanId === undefined ? {} : { previousScanId: r.previousScanId }),
      changes: r.changes,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  writeXml(spec, o, r);
  if (!o.json && !o.csv) {
    const lines = summaryLines(summary, spec.maxHalfOpen);
    if (r.scanId !== undefined) {
      if (r.previousScanId === undefined) lines.push(`halfopen: stored as scan #${r.scanId}`);
      else {
        lines.push(fit(`halfopen: stored as scan #${r.scanId}; ${r.changes.length} change${r.changes.length === 1 ? "" : "s"} since scan #${r.previousScanId} (halfopen scans diff ${r.previousScanId} ${r.scanId})`, 79));
        lines.push(...r.changes.slice(0, 20).map((c) => fit(`  ${changeLine(c)}`, 79)));
        if (r.changes.length > 20) lines.push(`  ... ${r.changes.length - 20} more`);
      }
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  if (summary.aborted) process.exitCode = 130;
}

/** One round of --every: its changes as lines (or JSON lines), then a line about the round. */
function emitRound(r: Round, round: number, spec: ScanSpec, o: ScanCliOptions): void {
  const at = r.summary.startedAt + r.summary.elapsedMs;
  if (o.json) {
    for (const c of r.changes) process.stdout.write(`${JSON.stringify({ type: "change", round, scanId: r.scanId, previousScanId: r.previousScanId, at: new Date(at).toISOString(), ...c })}\n`);
    process.stdout.write(`${JSON.stringify({ type: "round", round, scanId: r.scanId, previousScanId: r.previousScanId, complete: r.complete, changes: r.changes.length, hosts: r.hosts.map(hostJson), summary: { ...r.summary, maxHalfOpen: spec.maxHalfOpen, ports: spec.ports.length } })}\n`);
  } else {
    if (round === 1) process.stdout.write(`${summaryLines(r.summary, spec.maxHalfOpen).join("\n")}\n`);
    for (const c of r.changes) process.stdout.write(`${fit(`${clock(at)} ${changeLine(c)}`, 79)}\n`);
    const since = r.previousScanId === undefined ? "nothing to compare" : `${r.changes.length} change${r.changes.length === 1 ? "" : "s"} since scan #${r.previousScanId}`;
    process.stdout.write(`${fit(`halfopen: round ${round}${r.scanId === undefined ? "" : ` (scan #${r.scanId})`} ${clock(at)}: ${r.complete ? "" : "interrupted, "}${r.summary.up} up, ${r.summary.open} open; ${since}`, 79)}\n`);
  }
  writeXml(spec, o, r);
  if (r.summary.aborted) process.exitCode = 130;
}
