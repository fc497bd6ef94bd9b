/**
 * `halfopen scans`: the scans `halfopen scan` stored. `list` (the default),
 * `show ID` (the hosts found up, as `scan` prints them), and `diff [A] [B]`
 * (what changed from scan A to scan B; by default the latest scan against
 * the previous one of the same targets and ports). Reads the database
 * read-only, so it works while a `scan --every` is writing.
 */
import type { Command } from "commander";
import { addRowsOption, parseIntOption } from "../options.js";

export interface ScansOptions {
  db?: string;
  json?: boolean;
  rows: number;
  /** The old spelling of rows. */
  limit?: number;
}

const LIST_EXAMPLE = `
Example:
  $ halfopen scans
      ID STARTED        STATE           UP  OPEN TARGETS
       3 12-02 22:05:03 done             3     1 127.0.0.1-3 -p 22,80,8080 -Pn
       2 12-02 22:05:01 done             3     0 127.0.0.1-3 -p 22,80,8080 -Pn
  $ halfopen scans diff 2 3
  scan #2 (12-02 22:05:01) -> scan #3 (12-02 22:05:03): 1 change
  + 127.0.0.2 8080/tcp open (was closed)
Exit codes: 0 ok, 1 no database, no such scan or a database error.`;

export function registerScans(program: Command): void {
  const scans = program.command("scans").description("the scans halfopen scan stored: list, show one, diff two");
  const list = scans
    .command("list", { isDefault: true })
    .description("list stored scans, newest first")
    .option("--db <path>", "database (default: the one scan and watch write)");
  addRowsOption(list, 20)
    .option("--json", "write one JSON object: { scans: [...] }")
    .addHelpText("after", LIST_EXAMPLE)
    .action(async (opts: ScansOptions) => {
      const { listScans } = await import("./run.js");
      await listScans(opts);
    });
  scans
    .command("show")
    .description("one stored scan: the hosts it found up and their ports")
    .argument("<id>", "scan id (from the list)", parseIntOption("<id>", 1))
    .option("--db <path>", "database (default: the one scan and watch write)")
    .option("--json", "write the scan as one JSON object, as scan --json does")
    .action(async (id: number, opts: ScansOptions) => {
      const { showScan } = await import("./run.js");
      await showScan(id, opts);
    });
  scans
    .command("diff")
    .description("what changed between two stored scans: hosts up/down, ports opened/closed")
    .argument("[from]", "the earlier scan (default: the one before <to> of the same targets and ports)", parseIntOption("[from]", 1))
    .argument("[to]", "the later scan (default: the latest)", parseIntOption("[to]", 1))
    .option("--db <path>", "database (default: the one scan and watch write)")
    .option("--json", "write one JSON object: { from, to, changes: [...] }")
    .action(async (from: number | undefined, to: number | undefined, opts: ScansOptions) => {
      const { diffStoredScans } = await import("./run.js");
      await diffStoredScans(from, to, opts);
    });
}
