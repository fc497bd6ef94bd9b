/**
 * `halfopen ls`: the "User Action" of Event 4226 (netstat -no, find the
 * process with many SYN_SENT connections, look its PID up) in one command:
 * outbound connect attempts in progress, grouped by process, largest first.
 */
import type { Command } from "commander";
import type { GroupBy } from "../../core/attribution.js";
import type { SourceName } from "../../platform/source-names.js";
import { collect, parseGroupBy, parseIntOption, parseSourceOption } from "../options.js";

export interface LsOptions {
  allStates?: boolean;
  json?: boolean;
  csv?: boolean;
  source?: SourceName;
  pid?: number[];
  comm?: string[];
  unit?: string[];
  container?: string[];
  netns?: string[];
  by: GroupBy;
  sample: number;
  /** `--db`: where a running watch keeps the names DNS answers gave (default: the incident database). */
  db?: string;
  /** `--no-names`. */
  names?: boolean;
}

export const LS_EXAMPLE = `
Example:
  $ sudo halfopen ls
  halfopen: 31 half-open connect attempts (procfs); 2 processes
      PID USER     PROCESS          HALF OLDEST REMOTES
     4242 root     scan                30 3 retr 198.18.0.1:10000 +29
      977 alice    firefox              1 0 retr 198.18.0.7:443

  $ sudo halfopen ls --by container
  halfopen: 31 half-open connect attempts (procfs); 2 processes
  GROUP (container)                PROCS  HALF OLDEST REMOTES
  docker a2ffe0e97ac2                  2    30 3 retr 198.18.0.1:10000 +29
  (host)                               1     1 0 retr 198.18.0.7:443

  A process in a container, a pod or a named network namespace gets a line
  "in: docker a2ffe0e97ac2, pod ..., netns blue" under its row.

  A remote shows the name a DNS answer gave its address (dead3.lab.test:80),
  never a reverse lookup, when a running "halfopen watch" saw that answer:
  it keeps them in its incident database (--db, default the same as
  watch's) while the answer holds. --no-names shows addresses only; --json
  always has the address, with "remoteNames" beside it.

  OLDEST is the oldest attempt's age where the OS tells it (Windows), else
  the SYN retransmissions it has made so far (Linux). Without root, sockets
  of other users' processes are counted with "owner unknown".

  On Linux the table comes from the kernel's sock_diag through a helper
  compiled at install, else from /proc/net/tcp (HALFOPEN_NATIVE=0 forces
  it); --json says which in "method".

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
    .option("--unit <name>", "only processes of this systemd unit or slice (repeat or comma-separate)", collect((s: string) => s))
    .option("--container <id>", "only processes of this container (id or its first 4+ hex digits, LXC name, or pod UID)", collect((s: string) => s))
    .option("--netns <name>", "only processes in this network namespace (name under /run/netns, or inode)", collect((s: string) => s))
    .option("--by <what>", "one row per process, unit, container or netns", parseGroupBy, "process")
    .option("--db <path>", "the database a running watch keeps DNS names in (default: watch's incident database)")
    .option("--no-names", "show remote addresses only, not the names DNS answers gave them")
    .option("--sample <n>", "remote endpoints listed per process", parseIntOption("--sample", 0, 1000), 3)
    .addHelpText("after", LS_EXAMPLE)
    .action(async (opts: LsOptions) => {
      const { runLs } = await import("./run.js");
      await runLs(opts);
    });
}
