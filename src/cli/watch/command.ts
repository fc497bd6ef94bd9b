/**
 * `halfopen watch`: the live monitor. Feeds the platform source into the pure
 * HalfOpenMonitor and prints incidents, summaries and a final total, as text
 * (80 columns) or JSON lines (`--json`, every line has a `type`).
 */
import type { Command } from "commander";
import { ENFORCE_SCOPES, type EnforceScope } from "../../core/enforce/scope.js";
import { SOURCE_NAMES, type SourceName } from "../../platform/source-names.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { collect, parseIntOption, parseSecondsOption, parseSourceOption } from "../options.js";
import { refuseCollisions } from "../paths.js";
import { checkHookProgram, hookArgv } from "./hook-sink.js";

/** A number above 0 (`--speed`). */
function parsePositive(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || n > 1e6) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${value}": expected a number above 0, at most 1000000`);
    return n;
  };
}

function parseScope(v: string): EnforceScope {
  if (!(ENFORCE_SCOPES as readonly string[]).includes(v)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --per "${v}": expected one of ${ENFORCE_SCOPES.join(", ")}`);
  return v as EnforceScope;
}

/** The --enforce family: its options only with it; never with a replay; at most one namespace. */
function checkEnforceOptions(opts: WatchOptions): void {
  const bad = (m: string) => new HalfOpenError(ErrorCodes.BAD_USAGE, m);
  if (opts.enforce === undefined) {
    const given = [opts.per !== "host" && "--per", opts.releaseRate !== undefined && "--release-rate", opts.enforceDryRun && "--enforce-dry-run", opts.enforceLoopback && "--enforce-loopback", opts.containScanners !== undefined && "--contain-scanners"].filter(Boolean);
    if (given.length > 0) throw bad(`Cannot use ${given.join(", ")} without --enforce N`);
    return;
  }
  if (opts.replay) throw bad("Cannot use --enforce with --replay: a recording's SYNs were sent long ago");
  if (opts.source !== undefined && opts.source !== "tracefs") throw bad(`Cannot use --enforce with --source ${opts.source}: it learns when attempts end from tracefs`);
  if ((opts.netns?.length ?? 0) > 1) throw bad("Cannot use --enforce with more than one --netns: it holds SYNs in one network namespace (ours, or the one --netns names)");
  const ns = opts.netns?.[0];
  if (ns !== undefined && (/^\d+$/.test(ns) || ns.includes("/") || ns.startsWith("."))) throw bad(`Cannot use --enforce with --netns "${ns}": name the namespace (under /run/netns; ip netns attach NAME PID names one)`);
}

/** Options that only make sense with --replay, or never with it. */
function checkReplayOptions(opts: WatchOptions): void {
  const bad = (m: string) => new HalfOpenError(ErrorCodes.BAD_USAGE, m);
  if (!opts.replay && (opts.speed !== undefined || opts.asFastAsPossible)) throw bad(`Cannot use ${opts.speed !== undefined ? "--speed" : "--as-fast-as-possible"} without --replay FILE`);
  if (opts.replay && opts.speed !== undefined && opts.asFastAsPossible) throw bad("Cannot use --speed and --as-fast-as-possible together: choose one");
  if (opts.replay && opts.source) throw bad("Cannot use --source with --replay: the events come from the file");
  if (opts.replay && opts.record) throw bad("Cannot use --record with --replay: copy the file instead");
  const uiOptions = opts.uiPort !== 0 || opts.uiHost !== "localhost" || opts.uiAllowRemote || !opts.uiScans || opts.uiReadOnly || opts.uiActions || opts.uiTlsCert || opts.uiTlsKey;
  if (!opts.ui && uiOptions) throw bad("Cannot use --ui-port, --ui-host, --ui-allow-remote, --ui-read-only, --ui-actions, --ui-tls-cert, --ui-tls-key or --no-ui-scans without --ui");
  const loopback = ["localhost", "::1", "[::1]"].includes(opts.uiHost) || /^127\.\d+\.\d+\.\d+$/.test(opts.uiHost);
  if (opts.ui && !opts.uiAllowRemote && !loopback)
    throw bad(`Cannot serve the dashboard on ${opts.uiHost.slice(0, 100)} without --ui-allow-remote: other machines could reach it`);
  if ((opts.uiTlsCert === undefined) !== (opts.uiTlsKey === undefined)) throw bad("Cannot use --ui-tls-cert without --ui-tls-key (or the other way round): TLS needs both");
  if (opts.ui && opts.uiAllowRemote && !loopback && opts.uiTlsCert === undefined)
    throw bad(`Cannot serve the dashboard on ${opts.uiHost.slice(0, 100)} over plain HTTP: the token and everything the page shows (process names, command lines, incidents) would cross the network readable by anyone on the path; give --ui-tls-cert FILE and --ui-tls-key FILE`);
  if (opts.uiReadOnly && opts.uiActions) throw bad("Cannot use --ui-read-only and --ui-actions together: choose one");
}

/** `--first-contact`: service or host. */
function parseFirstContact(v: string): "service" | "host" {
  if (v === "service" || v === "host") return v;
  throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --first-contact "${v}": expected service (address and port) or host (address)`);
}

/** The smallest summary period: a faster one floods the terminal and says nothing more. */
export const MIN_INTERVAL_S = 0.5;

/** `--interval`: 0 (never), or from MIN_INTERVAL_S to a day. */
export function parseIntervalOption(value: string): number {
  const n = parseSecondsOption("--interval", 0, 86_400)(value);
  if (n !== 0 && n < MIN_INTERVAL_S) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --interval "${value}": expected 0 (no summaries) or seconds from ${MIN_INTERVAL_S} to 86400`);
  }
  return n;
}

export interface WatchOptions {
  limit: number;
  quiet: number;
  interval: number;
  pid?: number[];
  comm?: string[];
  unit?: string[];
  container?: string[];
  netns?: string[];
  json?: boolean;
  source?: SourceName;
  bufferKb?: number;
  /** false with --no-dns. */
  dns?: boolean;
  /** false with --no-raw-senders. */
  rawSenders?: boolean;
  rawAnswer?: number;
  duration?: number;
  maxAge: number;
  poll: number;
  store: boolean;
  db?: string;
  /** A duration (12h, 90d), checked when watch starts: parsing it needs `ms`, which `ls` need not load. */
  retain?: string;
  retainSize: number;
  metricsPort?: number;
  metricsHost: string;
  metricsTopNames: number;
  logFile?: string;
  record?: string;
  replay?: string;
  speed?: number;
  asFastAsPossible?: boolean;
  /** Programs the user knows (names or executable paths): judged, never alerted on. */
  trust?: string[];
  firstContactBy: "service" | "host";
  /** Hook commands, split into arguments (hook-sink.ts). */
  onVerdict?: string[];
  onIncident?: string[];
  hookTimeout: number;
  ui?: boolean;
  uiPort: number;
  uiHost: string;
  uiAllowRemote?: boolean;
  /** The page may not end processes or start scans. Default with --ui-allow-remote. */
  uiReadOnly?: boolean;
  /** With --ui-allow-remote: the page may end processes and start scans after all. */
  uiActions?: boolean;
  uiTlsCert?: string;
  uiTlsKey?: string;
  /** The page may start scans (default); --no-ui-scans hides the panel and refuses them. */
  uiScans: boolean;
  /** `--enforce N`: hold SYNs past N attempts in flight per scope (docs/enforce.md). */
  enforce?: number;
  per: EnforceScope;
  /** Release held attempts at this rate instead of when a slot frees. */
  releaseRate?: number;
  enforceDryRun?: boolean;
  enforceLoopback?: boolean;
  /** `--contain-scanners[=N]`: true means the default limit (1). */
  containScanners?: number | true;
  queueNum: number;
  queueMax: number;
}

export const WATCH_EXAMPLE = `
Example:
  $ sudo halfopen watch --limit 10
  halfopen: watching outbound TCP connects with tracefs; limit 10 half-open
  08:01:02 INCIDENT 1 open, 11 > limit 10: scan[4242] -> 198.18.0.1:9
  08:01:03 SCANNER scan[4242] by TRW: 4 of 4 first contacts failed in 1.0s
  08:01:12 INCIDENT 1 closed after 10.0s: peak 50 half-open (limit 10)
    50 attempts to 50 destinations on 1 host: 0 est, 0 ref, 0 fail, 50 pend
    PID      USER     PROCESS          TRIES  PEAK   EST   REF  FAIL  PEND EXIT
    4242     root     scan                50    50     0     0     0    50  yes
             verdict: scanner by TRW after 4 first contacts

A process that keeps failing to reach new destinations is judged a scanner
(TRW, reverse SHT: docs/verdicts.md) whether or not the limit is crossed;
--trust NAME|PATH marks programs you know, --on-verdict CMD alerts.

Incidents are stored in /var/lib/halfopen/incidents.db (root) or
$XDG_STATE_HOME/halfopen/incidents.db; "halfopen incidents" lists them.
With --metrics-port 9465, Prometheus can scrape http://HOST:9465/metrics.
With --ui, a live dashboard: open the URL printed at start (docs/dashboard.md).

Without root (or where tracefs is missing) watch polls /proc instead and
says so; on Windows it polls Get-NetTCPConnection (or netstat) and files
Event 4226 under the incident; on macOS it polls lsof (or netstat).

Exit codes: 0 ok, 1 failure, 2 bad usage, 3 needs privileges or a tool.`;

export function registerWatch(program: Command): void {
  program
    .command("watch")
    .description("watch outbound TCP connect attempts live; report each burst of half-open attempts above the limit as an incident naming the processes")
    .option("-l, --limit <n>", "half-open attempts allowed at once, host-wide (Windows XP SP2: 10)", parseIntOption("--limit", 0, 1_000_000), 10)
    .option("-q, --quiet <seconds>", "close an incident after the count stays at or below the limit this long", parseSecondsOption("--quiet", 0, 86_400), 5)
    .option("-i, --interval <seconds>", "print a summary line this often: 0 (never) or 0.5 to 86400", parseIntervalOption, 10)
    .option("-p, --pid <pid>", "only attempts of this process (repeat or comma-separate)", collect(parseIntOption("--pid", 1)))
    .option("-c, --comm <name>", "only attempts of processes with this name (repeat or comma-separate)", collect((s: string) => s))
    .option("--unit <name>", "only attempts of processes in this systemd unit or slice (repeatable)", collect((s: string) => s))
    .option("--container <id>", "only attempts of processes in this container (id or 4+ leading hex digits, LXC name, pod UID; repeatable)", collect((s: string) => s))
    .option("--netns <name>", "only attempts from this network namespace (name under /run/netns, or inode; repeatable)", collect((s: string) => s))
    .option("--json", "write JSON lines (types: start, incident-open, incident, verdict, summary, lost, blind, warning, stored, stop)")
    .option("--source <name>", `connection source: ${SOURCE_NAMES.join(", ")} (default: detected)`, parseSourceOption)
    .option("--poll <seconds>", "polling sources (procfs, windows, macos): read the socket table this often", parseSecondsOption("--poll", 0.05, 3600), 1)
    .option("--buffer-kb <n>", "tracefs ring buffer per CPU, KiB", parseIntOption("--buffer-kb", 64, 1_048_576))
    .option("--no-raw-senders", "tracefs: do not trace SYNs sent without connect() (raw IP and packet sockets: nmap -sS, masscan, zmap)")
    .option("--no-dns", "tracefs: do not watch DNS answers (destinations by address only; verdicts judge looked-up addresses like any other)")
    .option("--raw-answer <seconds>", "tracefs: a SYN sent without connect() and unanswered this long ends as timeout", parseSecondsOption("--raw-answer", 0.1, 600), 3)
    .option("--duration <seconds>", "stop after this long", parseSecondsOption("--duration", 0, 31_536_000))
    .option("--max-age <seconds>", "end attempts with no end event after this long as unknown", parseSecondsOption("--max-age", 1, 86_400), 300)
    .option("--db <path>", "incident database (default: /var/lib/halfopen/incidents.db as root, else $XDG_STATE_HOME/halfopen/incidents.db)")
    .option("--no-store", "do not store incidents")
    .option("--retain <duration>", "delete closed incidents older than this, e.g. 12h, 90d (default: 30d)")
    .option("--retain-size <MiB>", "delete the oldest closed incidents while the database holds more than this", parseIntOption("--retain-size", 1, 1_048_576), 256)
    .option("--metrics-port <port>", "serve Prometheus/OpenMetrics metrics on http://HOST:PORT/metrics", parseIntOption("--metrics-port", 0, 65_535))
    .option("--metrics-host <address>", "address the metrics server binds (0.0.0.0 or :: for every interface)", "127.0.0.1")
    .option("--metrics-top-names <n>", "process names exported one by one (the rest are summed as \"other\")", parseIntOption("--metrics-top-names", 0, 1000), 20)
    .option("--log-file <path>", "also append every record as a JSON line to this file (reopened on SIGHUP)")
    .option("--record <file>", "write the event stream (with process details) to this file, for --replay (docs/record-format.md)")
    .option("--replay <file>", "read the events from a --record file instead of the system: no root needed; stored only with --db")
    .option("--speed <n>", "with --replay: N times as fast as recorded (default 1)", parsePositive("--speed"))
    .option("--as-fast-as-possible", "with --replay: no pauses")
    .option("--trust <name|path|unit>", "a program you know (process name, executable path, or systemd unit): its verdict is shown as trusted and never alerts; --enforce never holds it (repeat or comma-separate)", collect((s: string) => s))
    .option("--first-contact <by>", "what counts as a new destination for the scan verdicts: service (address and port) or host (address)", parseFirstContact, "service")
    .option("--on-verdict <cmd>", "run CMD (split into arguments, never a shell) with each scanner verdict's JSON record on stdin", (v: string) => hookArgv("--on-verdict", v))
    .option("--on-incident <cmd>", "run CMD with each incident's JSON record on stdin, when it opens and when it closes", (v: string) => hookArgv("--on-incident", v))
    .option("--hook-timeout <seconds>", "kill a hook that runs longer than this", parseSecondsOption("--hook-timeout", 0.1, 3600), 10)
    .option("--ui", "serve a live dashboard on http://127.0.0.1 (and ::1); the URL, with this run's token after #, is printed on stderr at start")
    .option("--ui-port <port>", "dashboard port (0: any free port)", parseIntOption("--ui-port", 0, 65_535), 0)
    .option("--ui-host <address>", "address the dashboard binds (not loopback: needs --ui-allow-remote)", "localhost")
    .option("--ui-allow-remote", "let --ui-host be an address other machines reach: needs --ui-tls-cert/--ui-tls-key; read-only unless --ui-actions")
    .option("--ui-read-only", "the dashboard shows, and never ends a process or starts a scan")
    .option("--ui-actions", "with --ui-allow-remote: let the page end processes and start scans")
    .option("--ui-tls-cert <file>", "serve the dashboard over HTTPS with this certificate (PEM)")
    .option("--ui-tls-key <file>", "the certificate's private key (PEM)")
    .option("--no-ui-scans", "the dashboard may not start scans (no scans panel)")
    .option("--enforce <n>", "hold outbound SYNs past N connect attempts in flight per scope (the XP SP2 limit, queued not dropped; root, Linux)", parseIntOption("--enforce", 1, 1_000_000))
    .option("--per <scope>", `with --enforce: the limit's scope: ${ENFORCE_SCOPES.join(", ")}`, parseScope, "host")
    .option("--release-rate <r>", "with --enforce: release held attempts at R per second whatever is in flight (default: when a slot frees)", parsePositive("--release-rate"))
    .option("--enforce-dry-run", "with --enforce: hold nothing; report what would have been held")
    .option("--enforce-loopback", "with --enforce: hold SYNs to loopback too (default: never)")
    .option("--contain-scanners [n]", "with --enforce: a process judged a scanner gets its own limit (default 1) instead of the scope's", parseIntOption("--contain-scanners", 1, 1_000_000))
    .option("--queue-num <n>", "with --enforce: the NFQUEUE queue number", parseIntOption("--queue-num", 0, 65_535), 4226)
    .option("--queue-max <n>", "with --enforce: SYNs held in the kernel at most; past this new ones go unheld (fail-open, counted)", parseIntOption("--queue-max", 1, 1_000_000), 65_536)
    .addHelpText("after", WATCH_EXAMPLE)
    .action(async (opts: WatchOptions) => {
      checkReplayOptions(opts);
      const { storing } = await import("./sinks.js");
      const { defaultDbPath } = await import("../../store/db-path.js");
      refuseCollisions([
        ...(opts.replay === undefined ? [] : [{ option: "--replay", path: opts.replay, role: "input" as const }]),
        ...(opts.uiTlsCert === undefined ? [] : [{ option: "--ui-tls-cert", path: opts.uiTlsCert, role: "input" as const }]),
        ...(opts.uiTlsKey === undefined ? [] : [{ option: "--ui-tls-key", path: opts.uiTlsKey, role: "input" as const }]),
        ...(opts.record === undefined ? [] : [{ option: "--record", path: opts.record, role: "output" as const }]),
        ...(opts.logFile === undefined ? [] : [{ option: "--log-file", path: opts.logFile, role: "output" as const }]),
        ...(storing(opts) ? [{ option: "--db", path: opts.db ?? defaultDbPath(), role: "database" as const }] : []),
      ]);
      checkEnforceOptions(opts);
      if (opts.onVerdict) checkHookProgram("--on-verdict", opts.onVerdict);
      if (opts.onIncident) checkHookProgram("--on-incident", opts.onIncident);
      const { runWatch } = await import("./run.js");
      await runWatch(opts);
    });
}
