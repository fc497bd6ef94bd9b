/**
 * `halfopen ls`: the "User Action" of Event 4226 (netstat -no, find the
 * process with many SYN_SENT connections, look its PID up) in one command:
 * outbound connect attempts in progress, grouped by process, largest first.
 */
import type { Command } from "commander";
import { groupByProcess } from "../core/socket-table.js";
import { TcpState } from "../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { selectReader, type SourceName } from "../platform/select.js";
import { type LsReport, formatLsCsv, formatLsText } from "./format-ls.js";
import { collect, parseIntOption, parseSourceOption } from "./options.js";
import { forTerminal } from "./sanitize.js";

export interface LsOptions {
  allStates?: boolean;
  json?: boolean;
  csv?: boolean;
  source?: SourceName;
  pid?: number[];
  comm?: string[];
  sample: number;
}

export const LS_EXAMPLE = `
Example:
  $ sudo halfopen ls
  halfopen: 31 half-open connect attempts (procfs); 2 processes
      PID USER     PROCESS          HALF OLDEST REMOTES
     4242 root     scan                30 3 retr 198.18.0.1:10000 +29
      977 alice    firefox              1 0 retr 198.18.0.7:443

  OLDEST is the oldest attempt's age where the OS tells it (Windows), else
  the SYN retransmissions it has made so far (Linux). Without root, sockets
  of other users' processes are counted with "owner unknown".

Exit codes: 0 ok, 1 failure, 2 bad usage, 3 no source or tool.`;

export function registerLs(program: Command): void {
  program
    .command("ls")
    .description("list outbound TCP connect attempts in progress (SYN_SENT), grouped by process, largest first")
    .option("-a, --all-states", "list sockets in every TCP state, not only SYN_SENT")
    .option("--json", "write one JSON object: { processes: [{ pid, name, halfOpen, ... }] }")
    .option("--csv", "write CSV, one row per process")
    .option("--source <name>", "socket table: procfs, windows, macos (default: this OS's)", parseSourceOption)
    .option("-p, --pid <pid>", "only these processes (repeat or comma-separate)", collect(parseIntOption("--pid", 1)))
    .option("-c, --comm <name>", "only processes with this name (repeat or comma-separate)", collect((s: string) => s))
    .option("--sample <n>", "remote endpoints listed per process", parseIntOption("--sample", 0, 1000), 3)
    .addHelpText("after", LS_EXAMPLE)
    .action(async (opts: LsOptions) => {
      await runLs(opts);
    });
}

/** Read the table once and print it. */
export async function runLs(opts: LsOptions): Promise<void> {
  if (opts.json && opts.csv) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --json and --csv together: choose one");
  const reader = selectReader(opts.source ? { source: opts.source } : {});
  await reader.probe();
  const read = await reader.read(0, { allStates: opts.allStates ?? false });
  const { rows, processes, warnings } = read.snapshot;
  const hostHalfOpen = rows.filter((r) => r.state === TcpState.SYN_SENT).length;
  const pids = opts.pid && opts.pid.length > 0 ? new Set(opts.pid) : undefined;
  const comms = opts.comm && opts.comm.length > 0 ? new Set(opts.comm) : undefined;
  const groups = groupByProcess(rows, processes, { allStates: opts.allStates ?? false, sampleSize: opts.sample }).filter(
    (g) => (!pids || (g.pid !== undefined && pids.has(g.pid))) && (!comms || comms.has(g.name)),
  );
  const report: LsReport = {
    type: "ls",
    source: reader.name,
    timeWall: Date.now(),
    allStates: opts.allStates ?? false,
    hostHalfOpen,
    sockets: groups.reduce((n, g) => n + g.total, 0),
    processes: groups,
    warnings: [...reader.caveats, ...warnings],
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  process.stdout.write(opts.csv ? formatLsCsv(report) : `${formatLsText(report)}\n`);
  for (const w of report.warnings) process.stderr.write(`halfopen: note: ${forTerminal(w)}\n`);
}
