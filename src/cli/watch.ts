/**
 * `halfopen watch`: the live monitor. Feeds the platform source into the pure
 * HalfOpenMonitor and prints incidents, summaries and a final total, as text
 * (80 columns) or JSON lines (`--json`, every line has a `type`).
 */
import type { Command } from "commander";
import type { ProcessInfo } from "../core/events.js";
import { HalfOpenMonitor, type MonitorOutput } from "../core/monitor.js";
import { openWatchSource, SOURCE_NAMES, type SourceName } from "../platform/select.js";
import { formatIncident, formatIncidentOpen, formatOsLimit, formatSummary, formatTotals, clock } from "./format-watch.js";
import { collect, parseIntOption, parseSecondsOption, parseSourceOption } from "./options.js";
import { forTerminal } from "./sanitize.js";

export interface WatchOptions {
  limit: number;
  quiet: number;
  interval: number;
  pid?: number[];
  comm?: string[];
  json?: boolean;
  source?: SourceName;
  bufferKb?: number;
  duration?: number;
  maxAge: number;
  poll: number;
}

export const WATCH_EXAMPLE = `
Example:
  $ sudo halfopen watch --limit 10
  halfopen: watching outbound TCP connects with tracefs; limit 10 half-open
  08:01:02 INCIDENT 1 open, 11 > limit 10: scan[4242] -> 198.18.0.1:9
  08:01:12 INCIDENT 1 closed after 10.0s: peak 50 half-open (limit 10)
    50 attempts to 50 destinations on 1 hosts; 0 est, 0 ref, 0 t/o, 0 abt, 50 pend
    PID      USER     PROCESS          TRIES  PEAK   EST   REF   T/O  PEND EXIT
    4242     root     scan                50    50     0     0     0    50  yes

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
    .option("-i, --interval <seconds>", "print a summary line this often (0: never)", parseSecondsOption("--interval", 0, 86_400), 10)
    .option("-p, --pid <pid>", "only attempts of this process (repeat or comma-separate)", collect(parseIntOption("--pid", 1)))
    .option("-c, --comm <name>", "only attempts of processes with this name (repeat or comma-separate)", collect((s: string) => s))
    .option("--json", "write JSON lines (types: start, incident-open, incident, summary, lost, warning, stop)")
    .option("--source <name>", `connection source: ${SOURCE_NAMES.join(", ")} (default: detected)`, parseSourceOption)
    .option("--poll <seconds>", "polling sources (procfs, windows, macos): read the socket table this often", parseSecondsOption("--poll", 0.05, 3600), 1)
    .option("--buffer-kb <n>", "tracefs ring buffer per CPU, KiB", parseIntOption("--buffer-kb", 64, 1_048_576))
    .option("--duration <seconds>", "stop after this long", parseSecondsOption("--duration", 0, 31_536_000))
    .option("--max-age <seconds>", "end attempts with no end event after this long as unknown", parseSecondsOption("--max-age", 1, 86_400), 300)
    .addHelpText("after", WATCH_EXAMPLE)
    .action(async (opts: WatchOptions) => {
      await runWatch(opts);
    });
}

function makeFilter(opts: WatchOptions): ((p: ProcessInfo) => boolean) | undefined {
  const pids = opts.pid && opts.pid.length > 0 ? new Set(opts.pid) : undefined;
  const comms = opts.comm && opts.comm.length > 0 ? new Set(opts.comm) : undefined;
  if (!pids && !comms) return undefined;
  return (p) => (pids ? pids.has(p.pid) : true) && (comms ? comms.has(p.name) : true);
}

/** Run the monitor until SIGINT/SIGTERM or `--duration`. */
export async function runWatch(opts: WatchOptions): Promise<void> {
  const out = (line: string) => {
    process.stdout.write(`${line}\n`);
  };
  const json = (record: object) => out(JSON.stringify(record));
  const { source, fallback } = await openWatchSource({
    ...(opts.source ? { source: opts.source } : {}),
    tracefs: opts.bufferKb ? { bufferKb: opts.bufferKb } : {},
    intervalMs: opts.poll * 1000,
  });
  const wallOffsetMs = Date.now() - source.now();
  const filter = makeFilter(opts);
  const monitor = new HalfOpenMonitor({
    limit: opts.limit,
    quietMs: opts.quiet * 1000,
    maxAgeMs: opts.maxAge * 1000,
    wallOffsetMs,
    ...(filter ? { filter } : {}),
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    source.stop();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  process.stdout.on("error", stop); // EPIPE: the reader went away
  const emit = (outputs: MonitorOutput[]) => {
    for (const o of outputs) {
      if (opts.json) {
        if (o.type === "lost") json({ ...o, timeWall: o.time + wallOffsetMs });
        else if (o.type === "os-limit") json({ type: "os-limit", ...o.record, time: o.time });
        else json({ type: o.type, ...o.incident, emittedAt: source.now() });
      } else if (o.type === "incident-open") out(formatIncidentOpen(o.incident));
      else if (o.type === "incident") out(formatIncident(o.incident));
      else if (o.type === "os-limit") out(formatOsLimit(o.record));
      else out(`${clock(o.time + wallOffsetMs)} WARNING: ${o.count} events lost${o.cpu === undefined ? "" : ` on cpu ${o.cpu}`}; attempts may be missing or end as unknown`);
    }
  };

  if (opts.json) {
    json({ type: "start", source: source.name, limit: opts.limit, quietMs: opts.quiet * 1000, pid: process.pid, time: source.now(), timeWall: Date.now() });
    if (fallback) json({ type: "warning", message: fallback });
    for (const c of source.caveats) json({ type: "warning", message: c });
  } else {
    if (fallback) out(`halfopen: note: ${forTerminal(fallback)}`);
    out(`halfopen: watching outbound TCP connects with ${source.name}; limit ${opts.limit} half-open${filter ? " (filtered)" : ""}; Ctrl-C stops`);
    for (const c of source.caveats) out(`halfopen: note: ${forTerminal(c)}`);
  }
  const warn = () => {
    for (const w of source.takeWarnings?.() ?? []) {
      if (opts.json) json({ type: "warning", message: w });
      else out(`halfopen: note: ${forTerminal(w)}`);
    }
  };

  const timers: NodeJS.Timeout[] = [];
  timers.push(setInterval(() => emit(monitor.tick(source.now())), 250));
  if (opts.interval > 0) {
    timers.push(
      setInterval(() => {
        const s = monitor.summary(source.now());
        if (opts.json) json({ type: "summary", ...s, timeWall: s.time + wallOffsetMs });
        else out(formatSummary(s, s.time + wallOffsetMs));
      }, opts.interval * 1000),
    );
  }
  if (opts.duration !== undefined) timers.push(setTimeout(stop, opts.duration * 1000));

  for await (const batch of source.events()) {
    for (const event of batch) emit(monitor.handle(event));
    emit(monitor.tick(source.now()));
    warn();
  }
  for (const t of timers) clearInterval(t);
  emit(monitor.flush(source.now()));
  const totals = monitor.totals();
  if (opts.json) json({ type: "stop", ...totals, source: source.stats(), time: source.now(), timeWall: Date.now() });
  else out(formatTotals(totals));
}
