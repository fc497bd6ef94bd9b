/**
 * CSV output (`ls --csv`, `incidents --csv`): cells a spreadsheet would run
 * as a formula are neutralized, since process names and command lines are
 * chosen by whoever runs the process. Loaded only when CSV is asked for.
 * Pure.
 */
import { stringify } from "csv-stringify/sync";
import type { LsReport } from "./format-ls.js";
import { forTerminal } from "./sanitize.js";

/**
 * Control characters and bidirectional overrides are written as visible
 * escapes (as on the terminal: `cat` of the file must not run an escape
 * sequence), then a cell a spreadsheet would evaluate as a formula (starting
 * with =, +, @, or - before a digit, "=", "(" or "+") gets a leading
 * apostrophe. A login shell's "-bash" is left alone.
 */
export function csvSafe(value: string): string {
  const v = forTerminal(value);
  return /^([=+@]|-[\d=(+])/.test(v) ? `'${v}` : v;
}

export const CSV_COLUMNS = ["pid", "name", "user", "uid", "half_open", "total", "distinct_remotes", "oldest_age_ms", "max_retransmits", "remotes", "exe", "cmdline"] as const;

/** One row per process, with a header. */
export function formatLsCsv(r: LsReport): string {
  const rows = r.processes.map((p) => [
    p.pid ?? "",
    csvSafe(p.name),
    csvSafe(p.user ?? ""),
    p.uid ?? "",
    p.halfOpen,
    p.total,
    p.distinctRemotes,
    p.oldestAgeMs === undefined ? "" : Math.round(p.oldestAgeMs),
    p.maxRetransmits ?? "",
    p.remotes.join(" "),
    csvSafe(p.exe ?? ""),
    csvSafe(p.cmdline?.join(" ") ?? ""),
  ]);
  return stringify([[...CSV_COLUMNS], ...rows]);
}
