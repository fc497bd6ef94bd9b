/**
 * Output of `halfopen ls`: an 80-column table, JSON, or CSV. Every string a
 * process controls goes through forTerminal() on the terminal (CSV: csv.ts).
 * Pure.
 */
import { type GroupBy, whereText } from "../../core/attribution.js";
import type { ProcessSockets } from "../../core/socket-table.js";
import { cols, fit, forTerminal, padCells } from "../sanitize.js";

export interface LsReport {
  type: "ls";
  source: string;
  /** How the source read the table, when it has more than one way (procfs: sock_diag or proc_net_tcp). */
  method?: string;
  /** ms since the epoch. */
  timeWall: number;
  allStates: boolean;
  /** Sockets in SYN_SENT on the host (all processes, before filters). */
  hostHalfOpen: number;
  /** Sockets listed (after filters). */
  sockets: number;
  /** Half-open sockets listed (after filters). */
  halfOpen: number;
  /** True when --pid, --comm, --unit, --container or --netns selected processes: the header then counts theirs, with the host's beside it. */
  filtered: boolean;
  /** What a row is: a process (default), or a unit, container or network namespace (`--by`). */
  by?: GroupBy;
  processes: ProcessSockets[];
  /**
   * Processes holding raw or packet sockets that can send TCP without connect() (Linux): their SYNs leave no
   * SYN_SENT socket, so they are not in the counts above.
   */
  rawSenders?: LsRawSender[];
  warnings: string[];
}

export interface LsRawSender {
  pid: number;
  name: string;
  user?: string;
  uid?: number;
  cmdline?: string[];
  unit?: string;
  container?: string;
  netnsName?: string;
  sockets: { kind: "raw" | "packet"; label: string; family?: 4 | 6; protocol: number; inode: number; netns?: number }[];
}

/** The raw senders' section: a line that says what they are, a header, one line per process. */
export function formatRawSendersText(list: readonly LsRawSender[]): string {
  const lines = [`halfopen: ${plural(list.length, "process", "processes")} can send SYNs without connect() (not counted above)`, "    PID USER     PROCESS          RAW OR PACKET SOCKETS"];
  for (const s of list) {
    const user = s.user ?? (s.uid === undefined ? "?" : String(s.uid));
    const head = `${String(s.pid).padStart(7)} ${padCells(fit(forTerminal(user), 8), 8)} ${padCells(fit(forTerminal(s.name), 15), 15)}  `;
    // Every socket kind is shown, wrapped under the column: none is cut.
    let line = head;
    const kinds = [...new Set(s.sockets.map((k) => k.label))];
    for (const [i, kind] of kinds.entries()) {
      const item = `${kind}${i < kinds.length - 1 ? "," : ""}`;
      if (line.length > head.length && line.length + 1 + item.length > cols()) {
        lines.push(line);
        line = " ".repeat(head.length);
      }
      line += line.length > head.length ? ` ${item}` : item;
    }
    lines.push(line);
    if (s.cmdline?.length) lines.push(fit(`        cmd: ${forTerminal(s.cmdline.join(" "))}`, cols()));
  }
  return lines.join("\n");
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function oldest(p: ProcessSockets): string {
  if (p.oldestAgeMs !== undefined) {
    const s = p.oldestAgeMs / 1000;
    return s < 100 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
  }
  if (p.maxRetransmits !== undefined) return `${p.maxRetransmits} retr`;
  return "-";
}

/** `a b (+N more)` within `width` columns. */
function remotesCell(p: ProcessSockets, width: number): string {
  if (p.remotes.length === 0) return "";
  // A remote a DNS answer named is shown by that name (never a reverse lookup): name:port.
  const remotes = p.remotes.map((r) => {
    const name = p.remoteNames?.[r];
    return name === undefined ? r : `${forTerminal(name)}:${r.slice(r.lastIndexOf(":") + 1)}`;
  });
  let line = remotes[0] ?? "";
  let shown = 1;
  for (const r of remotes.slice(1)) {
    const rest = p.distinctRemotes - shown - 1;
    const tail = rest > 0 ? ` +${rest}` : "";
    if (line.length + 1 + r.length + tail.length > width) break;
    line += ` ${r}`;
    shown++;
  }
  const rest = p.distinctRemotes - shown;
  return fit(rest > 0 ? `${line} +${rest}` : line, width);
}

function stateSummary(states: Record<string, number>): string {
  const abbrev: Record<string, string> = { SYN_SENT: "SYN", ESTABLISHED: "EST", TIME_WAIT: "TW", CLOSE_WAIT: "CW", LISTEN: "LSN", FIN_WAIT1: "FW1", FIN_WAIT2: "FW2" };
  return Object.entries(states)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${abbrev[s] ?? s} ${n}`)
    .join(" ");
}

/** The table: a summary line, a header, one line per process. */
export function formatLsText(r: LsReport): string {
  const lines: string[] = [];
  const procs = r.processes.reduce((n, p) => n + (p.pids?.length ?? (p.pid === undefined ? 0 : 1)), 0);
  const unknown = r.processes.find((p) => p.pid === undefined && p.group === undefined);
  // Filtered: "3 of 40" (the selected processes' attempts of the host's).
  const count = r.filtered ? `${r.halfOpen} of ${r.hostHalfOpen}` : String(r.hostHalfOpen);
  const n = r.filtered ? r.halfOpen : r.hostHalfOpen;
  const what = r.allStates ? `${plural(r.sockets, "TCP socket")}, ${count} half-open` : `${count} half-open connect ${n === 1 && !r.filtered ? "attempt" : "attempts"}`;
  lines.push(fit(`halfopen: ${what} (${r.source}); ${plural(procs, "process", "processes")}${r.filtered ? " selected" : ""}${unknown ? `, ${unknown.total} unowned` : ""}`, cols()));
  if (r.processes.length === 0) return lines.join("\n");
  if (r.by && r.by !== "process") {
    lines.push(`${`GROUP (${r.by})`.padEnd(32)} PROCS  HALF ${r.allStates ? "TOTAL STATES" : "OLDEST REMOTES"}`);
    for (const g of r.processes) {
      const head = `${padCells(fit(forTerminal(g.name), 32), 32)} ${String(g.pids?.length ?? 0).padStart(5)} ${String(g.halfOpen).padStart(5)} `;
      if (r.allStates) lines.push(fit(`${head}${String(g.total).padStart(5)} ${stateSummary(g.states)}`, cols()));
      else lines.push(head + `${oldest(g).padStart(6)} ` + remotesCell(g, cols() - head.length - 7));
    }
    return lines.join("\n");
  }
  lines.push(r.allStates ? "    PID USER     PROCESS          HALF TOTAL STATES" : "    PID USER     PROCESS          HALF OLDEST REMOTES");
  for (const p of r.processes) {
    const user = p.user ?? (p.uid === undefined ? "?" : String(p.uid));
    const who = `${String(p.pid ?? "-").padStart(7)} ${padCells(fit(forTerminal(user), 8), 8)} ${padCells(fit(forTerminal(p.name), 15), 15)} ${String(p.halfOpen).padStart(5)} `;
    if (r.allStates) lines.push(fit(`${who}${String(p.total).padStart(5)} ${stateSummary(p.states)}`, cols()));
    else {
      const head = `${who}${oldest(p).padStart(6)} `;
      lines.push(head + remotesCell(p, cols() - head.length));
    }
    // The command line tells twenty python3 apart; whole in a pipe, fitted on a terminal.
    if (p.cmdline?.length && p.cmdline.join(" ") !== p.name) lines.push(fit(`        cmd: ${forTerminal(p.cmdline.join(" "))}`, cols()));
    const where = whereText(p);
    if (where) lines.push(fit(`        in: ${forTerminal(where)}`, cols()));
  }
  return lines.join("\n");
}
