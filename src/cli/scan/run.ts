/**
 * What `halfopen scan` does once its options are parsed (command.ts): read
 * target and exclude files, check what the command line or a resumed
 * journal asks for, and run the series (scanner/series.ts: one round, or
 * `--every`) into its sinks (sinks.ts): the journal, the terminal or pipe,
 * nmap XML, the `--on-change` hook. Ctrl-C stops the scan and prints what was
 * found (exit 130).
 *
 * - `--resume FILE`: a journal (core/scan/journal.ts) gets one line per
 *   finished host; a journal that exists is continued, skipping its hosts,
 *   and its hosts are part of the output as if scanned now.
 * - the scan is stored in the database (store/scan-history.ts) and compared
 *   with the previous stored scan of the same targets and ports.
 */
import { closeSync, existsSync, openSync, truncateSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { excerpt } from "../../core/process-text.js";
import { JournalReader, journalHeader, specMismatch, type Journal } from "../../core/scan/journal.js";
import type { ScanSpec, ScanSummary } from "../../core/scan/model.js";
import { DEFAULT_PORTS, parsePorts } from "../../core/scan/targets.js";
import { timingTemplate } from "../../core/scan/nmap-timing.js";
import { topPorts } from "../../core/scan/services.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { readLines } from "../../platform/line-file.js";
import { isAlive, readIdentity } from "../../platform/process-identity.js";
import { planScan } from "../../scanner/plan.js";
import { checkScanSize, type PreparedTargets } from "../../scanner/scan.js";
import { runSeries, type ScanHistoryPort, type ScanSink } from "../../scanner/series.js";
import { defaultDbPath } from "../../store/db-path.js";
import type { IncidentStore } from "../../store/incident-store.js";
import { VERSION } from "../../version.js";
import { refuseCollisions, type RunPath } from "../paths.js";
import type { HookSink } from "../watch/hook-sink.js";
import type { ScanCliOptions } from "./command.js";
import { say } from "./format.js";
import { endOfScan, grepableSink, hookSink, journalSink, normalFileSink, outputSink, xmlSink, type Multi } from "./sinks.js";

export { hostLines } from "./format.js";

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

/** The files this scan reads and writes: none may be another (refuseCollisions). */
function checkOutputPaths(o: ScanCliOptions): void {
  const paths: RunPath[] = [
    ...(o.inputList ?? []).map((path) => ({ option: "--input-list", path, role: "input" as const })),
    ...(o.excludeFile ?? []).map((path) => ({ option: "--exclude-file", path, role: "input" as const })),
    ...(o.resume === undefined ? [] : [{ option: "--resume", path: o.resume, role: "output" as const }]),
    ...(o.xml === undefined ? [] : [{ option: "-oX", path: o.xml, role: "output" as const }]),
    ...(o.outputNormal === undefined ? [] : [{ option: "-oN", path: o.outputNormal, role: "output" as const }]),
    ...(o.outputGrepable === undefined || o.outputGrepable === "-" ? [] : [{ option: "-oG", path: o.outputGrepable, role: "output" as const }]),
    ...(o.store ? [{ option: "--db", path: o.db ?? defaultDbPath(), role: "database" as const }] : []),
  ];
  refuseCollisions(paths);
}

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

/** `-oA BASE`: -oN BASE.nmap, -oG BASE.gnmap, -oX BASE.xml (nmap's names), unless one was given on its own. */
function expandOutputAll(o: ScanCliOptions): ScanCliOptions {
  if (o.outputAll === undefined) return o;
  if (o.outputAll === "-") throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use -oA -: it names three files (BASE.nmap, BASE.gnmap, BASE.xml)");
  return { ...o, outputNormal: o.outputNormal ?? `${o.outputAll}.nmap`, outputGrepable: o.outputGrepable ?? `${o.outputAll}.gnmap`, xml: o.xml ?? `${o.outputAll}.xml` };
}

/** Where the text output goes does not change what the other outputs say. -oN and -oX name files. */
function checkOutputModes(o: ScanCliOptions): void {
  if ([o.json, o.csv, o.outputGrepable === "-"].filter(Boolean).length > 1) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use more than one of --json, --csv and -oG - (each is what standard output gets)");
  for (const [option, file] of [["-oN", o.outputNormal], ["-oX", o.xml]] as const) if (file === "-") throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} -: give a file (standard output gets the text, or --json, --csv, -oG -)`);
  if (o.outputGrepable === "-" && o.every !== undefined) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use -oG - with --every: use --json (one JSON line per change and per round)");
}

export async function runScan(positional: string[], cliOptions: ScanCliOptions, given: (option: string) => boolean = () => true): Promise<void> {
  const o = expandOutputAll(cliOptions);
  checkOutputModes(o);
  checkOutputPaths(o);
  if (o.every !== undefined && o.resume !== undefined) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --every with --resume: every round is a whole scan, stored in the database");
  if (o.every !== undefined && o.csv) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --every with --csv: use --json (one JSON line per change and per round)");
  if ((o.every !== undefined || o.onChange !== undefined) && !o.store) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${o.every !== undefined ? "--every" : "--on-change"} with --no-store: changes are found by comparing stored scans`);
  // Loaded only when used: a scan under a tiny descriptor limit must still load its modules.
  const hooks = o.onChange === undefined ? undefined : await import("../watch/hook-sink.js");
  const hookCommand = o.onChange === undefined || !hooks ? undefined : hooks.hookArgv("--on-change", o.onChange);
  if (hookCommand && hooks) hooks.checkHookProgram("--on-change", hookCommand);
  const { spec, prior, prepared } = await planFromCommandLine(positional, o, given);
  if (prior?.complete) {
    printFinished(prior, spec, prepared, o);
    return;
  }
  const journal = o.resume === undefined ? undefined : openJournal(o.resume, spec, prior);
  const store = await openStore(o);
  const hook: HookSink | undefined = hookCommand && hooks ? new hooks.HookSink({ option: "--on-change", argv: hookCommand, select: () => undefined, timeoutMs: o.hookTimeout * 1000, publish: (item) => "message" in item && say(item.message) }) : undefined;
  // The bar goes to standard error when it is a terminal, unless the terminal also gets what standard output prints as it goes (CSV, -oG -).
  const streamsToTerminal = process.stdout.isTTY === true && (o.csv === true || o.outputGrepable === "-");
  const showBar = o.progress && process.stderr.isTTY === true && !streamsToTerminal;
  const progress = showBar ? await import("cli-progress") : undefined;
  const makeMulti = progress
    ? () => new progress.MultiBar({ stream: process.stderr, barsize: 20, hideCursor: true, clearOnComplete: true, format: "{bar} {percentage}% | {probes} probes, {rate}/s | ETA {left} | {done} hosts done, {up} up, {open} open" }, progress.Presets.shades_classic) as unknown as Multi
    : undefined;
  const files: ScanSink[] = [
    ...(o.xml === undefined ? [] : [xmlSink(o.xml, spec)]),
    ...(o.outputNormal === undefined ? [] : [normalFileSink(o.outputNormal, spec)]),
    ...(o.outputGrepable === undefined ? [] : [grepableSink(o.outputGrepable, spec)]),
  ];
  const sinks: ScanSink[] = [...(journal ? [journalSink(journal.fd)] : []), outputSink(o, spec, makeMulti), ...files, ...(hook ? [hookSink(hook)] : [])];
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  const priorHosts = journal?.prior?.hosts ?? [];
  if (priorHosts.length > 0 && !o.json) say(`resuming ${journal?.file}: ${priorHosts.length} addresses already done (${priorHosts.filter((h) => h.status === "up").length} up); scanning the rest`);
  const self = readIdentity(process.pid);
  const history = store?.scans() as ScanHistoryPort | undefined;
  try {
    await runSeries({
      spec,
      prepared,
      signal: controller.signal,
      ...(o.every === undefined ? {} : { everyMs: o.every }),
      ...(history ? { openHistory: () => ({ history, close: () => {} }) } : {}),
      run: { pid: process.pid, ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }), hostname: hostname(), version: VERSION },
      ...(priorHosts.length > 0 ? { prior: priorHosts } : {}),
      warn: say,
      sinks,
    });
  } finally {
    process.removeListener("SIGINT", onSigint);
    if (journal) closeSync(journal.fd);
    await hook?.finish();
    hook?.close();
    store?.close();
  }
}

/** The ports: -p, --top-ports, none with -sn, else nmap's top 20. */
function portsAsked(o: ScanCliOptions): number[] {
  const asked = [o.ports !== undefined && "-p", o.topPorts !== undefined && "--top-ports", !o.portScan && "-sn"].filter((x): x is string => typeof x === "string");
  if (asked.length > 1) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${asked.join(" and ")} together: each says which ports to scan`);
  if (!o.portScan && !o.discovery) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use -sn with -Pn: a scan with neither discovery nor ports finds nothing");
  if (!o.portScan) return [];
  if (o.topPorts !== undefined) return topPorts(o.topPorts);
  return o.ports === undefined ? [...DEFAULT_PORTS] : parsePorts(o.ports);
}

/** What to scan: the command line's, or the journal's when resuming; checked, resolved, and held to the size bound. */
async function planFromCommandLine(positional: string[], o: ScanCliOptions, given: (option: string) => boolean): Promise<{ spec: ScanSpec; prior: Journal | undefined; prepared: PreparedTargets }> {
  const cliTargets = [...positional];
  for (const f of o.inputList ?? []) await readList(f, "target", cliTargets);
  const excludes = [...(o.exclude ?? [])];
  for (const f of o.excludeFile ?? []) await readList(f, "exclude", excludes);
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
    const timing = timingTemplate(o.timing);
    spec = {
      targets: cliTargets,
      exclude: excludes,
      ports: portsAsked(o),
      discovery: o.discovery ? o.discoveryMethod : "none",
      maxHalfOpen: given("maxHalfOpen") ? o.maxHalfOpen : (timing.maxHalfOpen ?? o.maxHalfOpen),
      retries: given("retries") ? o.retries : timing.retries,
      ...(o.timing === undefined || o.timing === 3 ? {} : { timing: o.timing }),
      ...(o.shard ? { shard: o.shard } : {}),
      ...(bannerMs === undefined ? {} : { bannerMs }),
    };
    const why = prior ? specMismatch(prior.spec, spec) : undefined;
    if (why) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${o.resume}": it holds another scan (${why}); run \`halfopen scan --resume ${o.resume}\` alone to continue it, or delete it`);
  }
  // A journal is input like a command line: a large scan needs --yes when resumed too.
  const { prepared } = await planScan(spec, { yes: o.yes === true });
  const stray = prior?.hosts.find((h) => !prepared.set.includes(h.address, spec.shard));
  if (stray) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${o.resume}": it holds a result for ${excerpt(stray.address, 60)}, which is not among its scan's targets${spec.shard ? ` (shard ${spec.shard.index}/${spec.shard.count})` : ""}; it is not a journal this scan wrote (nothing was changed)`);
  return { spec, prior, prepared };
}

/** A finished journal: nothing to scan; printed as it was. */
function printFinished(prior: Journal, spec: ScanSpec, prepared: PreparedTargets, o: ScanCliOptions): void {
  say(`${o.resume} holds a finished scan (${prior.hosts.length} hosts); printing it as stored. Delete it to scan again.`);
  const hosts = prior.hosts;
  const up = hosts.filter((h) => h.status === "up");
  const count = (state: string) => up.reduce((n, h) => n + h.ports.filter((p) => p.state === state).length, 0);
  const base: ScanSummary = { total: 0, done: 0, skipped: 0, up: 0, down: 0, open: 0, unknown: 0, probes: 0, retries: 0, localErrors: 0, peakInFlight: 0, discovery: spec.discovery === "none" ? "none" : "connect", discoveryMs: 0, aborted: false, startedAt: prior.startedAt, elapsedMs: 0 };
  const summary: ScanSummary = { ...base, ...(prior.endSummary as Partial<ScanSummary> | undefined), total: checkScanSize(prepared, spec.shard, true), done: hosts.length, skipped: hosts.length, up: up.length, down: hosts.length - up.length, open: count("open"), unknown: count("unknown") };
  endOfScan({ hosts: up, summary, changes: [] }, spec, o);
  const end = { round: 1, ref: 1, hosts: up, summary, complete: true, changes: [] };
  if (o.xml !== undefined) xmlSink(o.xml, spec).roundEnd?.(end);
  if (o.outputNormal !== undefined) normalFileSink(o.outputNormal, spec).roundEnd?.(end);
  if (o.outputGrepable !== undefined) grepableSink(o.outputGrepable, spec).roundEnd?.(end);
}

/** The database, when the scan stores: a default one that cannot be opened is said once and skipped; a named one (or --every, --on-change) is an error. */
async function openStore(o: ScanCliOptions): Promise<IncidentStore | undefined> {
  if (!o.store) return undefined;
  const { IncidentStore } = await import("../../store/incident-store.js");
  const path = o.db ?? defaultDbPath();
  let store: IncidentStore | undefined;
  try {
    store = IncidentStore.open({ path, createDirectory: o.db === undefined && !process.env.HALFOPEN_DB, isRunAlive: isAlive });
    const history = store.scans();
    history.prune(Date.now() - store.retention.maxAgeMs);
    return store;
  } catch (e) {
    if (o.db !== undefined || o.every !== undefined || o.onChange !== undefined) throw e;
    store?.close();
    say(`${(e as Error).message}; scanning without storing (--no-store says so quietly)`);
    return undefined;
  }
}
