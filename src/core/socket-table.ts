/**
 * A snapshot of the host's TCP sockets, as every polling source reads it
 * (/proc/net/tcp, Get-NetTCPConnection, netstat, lsof), and the per-process
 * view that `halfopen ls` prints. Pure: sources fill the rows, this module
 * only groups and counts.
 *
 * States use the Linux kernel numbering (tcp-state.ts) whatever the OS;
 * each platform parser maps its own names onto it.
 */
import { type Endpoint, type IpFamily, formatEndpoint } from "./endpoint.js";
import type { ProcessInfo } from "./events.js";
import { TcpState, tcpStateName } from "./tcp-state.js";

/** One TCP socket in a snapshot. */
export interface SocketRow {
  /** Identity while the socket lives: inode on Linux, else the 4-tuple. Unique within a snapshot. */
  key: string;
  family: IpFamily;
  local: Endpoint;
  remote: Endpoint;
  /** Kernel TCP state number (TcpState). */
  state: number;
  /** Owning process id, when the OS told it. */
  pid?: number;
  /** Owning user id (Linux: from /proc/net/tcp, even when the process is unreadable). */
  uid?: number;
  /** SYN retransmissions so far (Linux `retrnsmt`). */
  retransmits?: number;
  /** How long ago the socket was created, when the OS tells it (Windows CreationTime). */
  ageMs?: number;
  /** Network namespace inode (Linux). */
  netns?: number;
  /** Socket inode (Linux; 0 or absent for TIME_WAIT and orphaned sockets). */
  inode?: number;
}

/** What one read of the socket table returned. */
export interface SocketSnapshot {
  /** Source's monotonic clock, ms. */
  time: number;
  source: string;
  rows: SocketRow[];
  /** Process facts for the pids in `rows` that could be read. */
  processes: Map<number, ProcessInfo>;
  /** Things the user should know (unparsed lines, unreadable processes, ...), each said once. */
  warnings: string[];
}

/** The per-process line of `halfopen ls`. */
export interface ProcessSockets {
  /** Undefined for sockets whose owner could not be found (no permission, or orphaned). */
  pid?: number;
  name: string;
  user?: string;
  uid?: number;
  exe?: string;
  cmdline?: string[];
  /** Sockets in SYN_SENT. */
  halfOpen: number;
  /** Sockets listed for this process (all states with `allStates`, else = halfOpen). */
  total: number;
  /** Count per state name, e.g. { SYN_SENT: 30, ESTABLISHED: 2 }. */
  states: Record<string, number>;
  /** A sample of remote endpoints, most frequent first. */
  remotes: string[];
  /** Distinct remote endpoints among the listed sockets. */
  distinctRemotes: number;
  /** Oldest socket age when the OS tells it. */
  oldestAgeMs?: number;
  /** Most SYN retransmissions of any of its half-open sockets, when known. */
  maxRetransmits?: number;
}

export interface GroupOptions {
  /** List every state, not only SYN_SENT. */
  allStates?: boolean;
  /** Remote endpoints kept per process. Default 3. */
  sampleSize?: number;
}

/** Rows that `ls` lists: SYN_SENT only, or every non-LISTEN state with `allStates`. */
export function selectRows(rows: readonly SocketRow[], allStates = false): SocketRow[] {
  return rows.filter((r) => (allStates ? true : r.state === TcpState.SYN_SENT));
}

/**
 * Group rows by owning process, sorted by half-open count (then total, then
 * pid). Sockets without a known owner form one group with no pid, so they
 * are counted, never dropped.
 */
export function groupByProcess(
  rows: readonly SocketRow[],
  processes: ReadonlyMap<number, ProcessInfo>,
  options: GroupOptions = {},
): ProcessSockets[] {
  const sampleSize = options.sampleSize ?? 3;
  const groups = new Map<number | undefined, { rows: SocketRow[] }>();
  for (const row of selectRows(rows, options.allStates)) {
    const g = groups.get(row.pid);
    if (g) g.rows.push(row);
    else groups.set(row.pid, { rows: [row] });
  }
  const out: ProcessSockets[] = [];
  for (const [pid, g] of groups) {
    const info = pid === undefined ? undefined : processes.get(pid);
    const states: Record<string, number> = {};
    const remoteCounts = new Map<string, number>();
    let halfOpen = 0;
    let oldest: number | undefined;
    let maxRetransmits: number | undefined;
    const uids = new Set<number>();
    for (const r of g.rows) {
      const s = tcpStateName(r.state);
      states[s] = (states[s] ?? 0) + 1;
      if (r.uid !== undefined) uids.add(r.uid);
      if (r.state === TcpState.SYN_SENT) {
        halfOpen++;
        if (r.retransmits !== undefined) maxRetransmits = Math.max(maxRetransmits ?? 0, r.retransmits);
      }
      if (r.ageMs !== undefined) oldest = Math.max(oldest ?? 0, r.ageMs);
      if (r.state !== TcpState.LISTEN) {
        const remote = formatEndpoint(r.remote);
        remoteCounts.set(remote, (remoteCounts.get(remote) ?? 0) + 1);
      }
    }
    const remotes = [...remoteCounts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, sampleSize)
      .map(([r]) => r);
    const group: ProcessSockets = {
      name: info?.name ?? (pid === undefined ? "(owner unknown)" : "?"),
      halfOpen,
      total: g.rows.length,
      states,
      remotes,
      distinctRemotes: remoteCounts.size,
    };
    if (pid !== undefined) group.pid = pid;
    const uid = info?.uid ?? (uids.size === 1 ? [...uids][0] : undefined);
    if (uid !== undefined) group.uid = uid;
    if (info?.user) group.user = info.user;
    if (info?.exe) group.exe = info.exe;
    if (info?.cmdline) group.cmdline = info.cmdline;
    if (oldest !== undefined) group.oldestAgeMs = oldest;
    if (maxRetransmits !== undefined) group.maxRetransmits = maxRetransmits;
    out.push(group);
  }
  return out.sort((a, b) => b.halfOpen - a.halfOpen || b.total - a.total || (a.pid ?? Infinity) - (b.pid ?? Infinity));
}
