/**
 * CSV output (`ls --csv`, `incidents --csv`): cells a spreadsheet would run
 * as a formula are neutralized, since process names and command lines are
 * chosen by whoever runs the process. Loaded only when CSV is asked for.
 * Pure.
 */
import { stringify } from "csv-stringify/sync";
import type { LsReport } from "./format.js";
import { csvSafe } from "../sanitize.js";

export const CSV_COLUMNS = ["pid", "name", "user", "uid", "half_open", "total", "distinct_remotes", "oldest_age_ms", "max_retransmits", "remotes", "exe", "cmdline", "unit", "container", "pod", "netns"] as const;

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
    csvSafe(p.unit ?? ""),
    p.container ? csvSafe(`${p.container.runtime}:${p.container.id}`) : "",
    p.pod?.uid ?? "",
    csvSafe(p.netnsName ?? (p.netns === undefined ? "" : String(p.netns))),
  ]);
  return stringify([[...CSV_COLUMNS], ...rows]);
}
