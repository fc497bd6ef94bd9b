/**
 * `halfopen incidents`: the history `watch` stored. `list` (the default)
 * filters by time, process name and pid; `show ID` prints one incident in
 * full, and with `--kill` ends its top process once confirmed, only if that
 * pid still belongs to the same process (same start time). Reads the
 * database read-only, so it works while `watch` is writing.
 */
import type { Command } from "commander";
import { SIGNALS } from "../../core/kill-policy.js";
import { type KillOptions, parseSignal } from "../act/command.js";
import { addRowsOption, collect, parseIntOption, parseSecondsOption } from "../options.js";

export interface ListOptions {
  db?: string;
  since?: string;
  until?: string;
  comm?: string[];
  pid?: number[];
  rows: number;
  /** The old spelling of rows. */
  limit?: number;
  json?: boolean;
  csv?: boolean;
}

export interface ShowOptions extends Partial<KillOptions> {
  db?: string;
  json?: boolean;
  kill?: boolean;
}

const LIST_EXAMPLE = `
Example:
  $ sudo halfopen incidents --since 1d
      ID STARTED        DURATION PEAK/LIMIT  TRIES PROCESS           STATE
      17 11-21 08:01:02    10.0s      50/10     50 scan[4242]        closed
  $ sudo halfopen incidents show 17

--since and --until take a duration ago (90s, 15m, 1h, 2d, 1w) or an ISO
date or date-time (2026-11-21, 2026-11-21T08:00, 2026-11-21T08:00Z).
Exit codes: 0 ok, 1 no database or a database error, 2 bad usage.`;

export function registerIncidents(program: Command): void {
  const incidents = program
    .command("incidents")
    .description("the incident history watch stored: list, show one in full, end its culprit");
  const list = incidents
    .command("list", { isDefault: true })
    .description("list stored incidents, newest first")
    .option("--db <path>", "incident database (default: the one watch writes)")
    .option("--since <when>", "only incidents that started at or after this (1h, 2d, 2026-11-21T08:00)")
    .option("--until <when>", "only incidents that started at or before this")
    .option("-c, --comm <name>", "only incidents naming a process with this name (repeat or comma-separate)", collect((s: string) => s))
    .option("-p, --pid <pid>", "only incidents naming this pid (repeat or comma-separate)", collect(parseIntOption("--pid", 1)));
  addRowsOption(list, 50)
    .option("--json", "write one JSON object: { incidents: [...] } with every field")
    .option("--csv", "write CSV, one row per incident")
    .addHelpText("after", LIST_EXAMPLE)
    .action(async (opts: ListOptions) => {
      const { listIncidents } = await import("./run.js");
      await listIncidents(opts);
    });
  incidents
    .command("show")
    .description("one incident in full: processes, command lines, destinations, sampled attempts")
    .argument("<id>", "incident id (from the list)", parseIntOption("<id>", 1))
    .option("--db <path>", "incident database (default: the one watch writes)")
    .option("--json", "write the incident as one JSON object")
    .option("--kill", "end the incident's top process, if that pid still belongs to it (asks first)")
    .option("-y, --yes", "with --kill: do not ask (required when stdin is not a terminal)")
    .option("-s, --signal <name>", `with --kill: signal (${SIGNALS.join(", ")})`, parseSignal, "TERM")
    .option("--wait <seconds>", "with --kill: wait this long for the process to exit", parseSecondsOption("--wait", 0, 600), 5)
    .action(async (id: number, opts: ShowOptions) => {
      const { showIncident } = await import("./run.js");
      await showIncident(id, opts);
    });
}
