/**
 * A snapshot of the host's TCP sockets, as every polling source reads it
 * (/proc/net/tcp, Get-NetTCPConnection, netstat, lsof), and the per-process
 * view that `halfopen ls` prints. Pure: sources fill the rows, this module
 * only groups and counts.
 *
 * States use the Linux kernel numbering (tcp-state.ts) whatever the OS;
 * each platform parser maps its own names onto it.
 */
import { type GroupBy, groupKey } from "./attribution.js";
import { type Endpoint, type IpFamily, formatEndpoint } from "./endpoint.js";
import type { ContainerRef, PodRef, ProcessInfo } from "./events.js";
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
  /** The name a DNS answer gave a listed remote's address (`remotes` text -> name), where one is known (GroupOptions.nameOf). */
  remoteNames?: Record<string, string>;
  /** Oldest socket age when the OS tells it. */
  oldestAgeMs?: number;
  /** Most SYN retransmissions of any of its half-open sockets, when known. */
  maxRetransmits?: number;
  /** Where it runs (core/attribution.ts), when known. */
  unit?: string;
  container?: ContainerRef;
  pod?: PodRef;
  netns?: number;
  netnsName?: string;
  /** With `by` other than "process": what the group is, and the processes in it (pids, ascending). */
  group?: { by: Exclude<GroupBy, "process">; key: string };
  pids?: number[];
}

export interface GroupOptions {
  /** List every state, not only SYN_SENT. */
  allStates?: boolean;
  /** Remote endpoints kept per process. Default 3. */
  sampleSize?: number;
  /** Group by process (default), or by systemd unit, container or network namespace: one row per group. */
  by?: GroupBy;
  /** The name a DNS answer gave `address` as seen from network namespace `netns`, if one is known (process rows only). */
  nameOf?: (netns: number | undefined, address: string) => string | undefined;
}

/** What groupByProcess sums for one process. */
interface GroupTotals {
  total: number;
  halfOpen: number;
  /** Count per kernel state number (sparse). */
  states: number[];
  /** address -> port -> count: no endpoint text is built for the thousands of rows a scanner has. */
  remotes: Map<string, Map<number, number>>;
  distinctRemotes: number;
  /** The uid every socket shares; null when they differ. */
  uid: number | null | undefined;
  /** The owning processes (by unit, container, netns). */
  pids: Set<number>;
  oldestAgeMs?: number;
  maxRetransmits?: number;
}

/** More frequent first; ties by address text, then port number. */
function remoteBefore(a: { address: string; port: number; n: number }, b: { address: string; port: number; n: number }): boolean {
  return a.n !== b.n ? a.n > b.n : a.address !== b.address ? a.address < b.address : a.port < b.port;
}

/** The `k` most frequent remote endpoints, in order, without sorting them all. */
function topRemotes(counts: ReadonlyMap<string, ReadonlyMap<number, number>>, k: number): Endpoint[] {
  const top: { address: string; port: number; n: number }[] = [];
  if (k <= 0) return [];
  for (const [address, ports] of counts) {
    for (const [port, n] of ports) {
      const c = { address, port, n };
      if (top.length === k && !remoteBefore(c, top[k - 1] as (typeof top)[number])) continue;
      let i = top.length < k ? top.length : k - 1;
      while (i > 0 && remoteBefore(c, top[i - 1] as (typeof top)[number])) i--;
      top.splice(i, 0, c);
      if (top.length > k) top.pop();
    }
  }
  return top.map(({ address, port }) => ({ address, port }));
}

/**
 * Group rows by owning process (or, with `by`, by the unit, container or
 * network namespace of the owning process), sorted by half-open count (then
 * total, then pid or label). Sockets without a known owner form one group
 * with no pid, so they are counted, never dropped.
 */
export function groupByProcess(
  rows: readonly SocketRow[],
  processes: ReadonlyMap<number, ProcessInfo>,
  options: GroupOptions = {},
): ProcessSockets[] {
  const sampleSize = options.sampleSize ?? 3;
  const allStates = options.allStates ?? false;
  // One pass, one accumulator per process: `ls` groups tens of thousands of rows.
  const by = options.by ?? "process";
  const keyOf = new Map<number | undefined, number | string | undefined>();
  const labels = new Map<string, string>();
  const key = (pid: number | undefined): number | string | undefined => {
    if (by === "process" || pid === undefined) return pid;
    let k = keyOf.get(pid);
    if (k === undefined) {
      const g = groupKey(processes.get(pid), by);
      labels.set(g.key, g.label);
      keyOf.set(pid, (k = g.key));
    }
    return k;
  };
  const groups = new Map<number | string | undefined, GroupTotals>();
  for (const r of rows) {
    if (!allStates && r.state !== TcpState.SYN_SENT) continue;
    const k = key(r.pid);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { total: 0, halfOpen: 0, states: [], remotes: new Map(), distinctRemotes: 0, uid: undefined, pids: new Set() }));
    if (r.pid !== undefined) g.pids.add(r.pid);
    g.total++;
    g.states[r.state] = (g.states[r.state] ?? 0) + 1;
    // The one uid all its sockets share; null once two differ.
    if (r.uid !== undefined && g.uid !== null) g.uid = g.uid === undefined || g.uid === r.uid ? r.uid : null;
    if (r.state === TcpState.SYN_SENT) {
      g.halfOpen++;
      if (r.retransmits !== undefined && !(r.retransmits <= (g.maxRetransmits ?? -1))) g.maxRetransmits = r.retransmits;
    }
    if (r.ageMs !== undefined && !(r.ageMs <= (g.oldestAgeMs ?? -1))) g.oldestAgeMs = r.ageMs;
    if (r.state !== TcpState.LISTEN) {
      const remote = r.remote; // read once: a row may build it on demand
      let ports = g.remotes.get(remote.address);
      if (!ports) g.remotes.set(remote.address, (ports = new Map()));
      const n = ports.get(remote.port);
      if (n === undefined) g.distinctRemotes++;
      ports.set(remote.port, (n ?? 0) + 1);
    }
  }
  const out: ProcessSockets[] = [];
  for (const [k, g] of groups) {
    if (typeof k === "string") {
      out.push(groupRow(k, labels.get(k) ?? k, by as Exclude<GroupBy, "process">, g, sampleSize));
      continue;
    }
    const pid = k;
    const info = pid === undefined ? undefined : processes.get(pid);
    const states = stateNames(g);
    const top = topRemotes(g.remotes, sampleSize);
    const group: ProcessSockets = {
      name: info?.name ?? (pid === undefined ? "(owner unknown)" : "?"),
      halfOpen: g.halfOpen,
      total: g.total,
      states,
      remotes: top.map(formatEndpoint),
      distinctRemotes: g.distinctRemotes,
    };
    if (options.nameOf && pid !== undefined) {
      const names: Record<string, string> = {};
      for (const [i, e] of top.entries()) {
        const n = options.nameOf(info?.netns, e.address);
        if (n !== undefined) names[group.remotes[i] ?? ""] = n;
      }
      if (Object.keys(names).length > 0) group.remoteNames = names;
    }
    if (pid !== undefined) group.pid = pid;
    const uid = info?.uid ?? g.uid ?? undefined;
    if (uid !== undefined) group.uid = uid;
    if (info?.user) group.user = info.user;
    if (info?.exe) group.exe = info.exe;
    if (info?.cmdline) group.cmdline = info.cmdline;
    if (g.oldestAgeMs !== undefined) group.oldestAgeMs = g.oldestAgeMs;
    if (g.maxRetransmits !== undefined) group.maxRetransmits = g.maxRetransmits;
    if (info) {
      for (const f of ["unit", "container", "pod", "netns", "netnsName"] as const) if (info[f] !== undefined) Object.assign(group, { [f]: info[f] });
    }
    out.push(group);
  }
  return out.sort((a, b) => b.halfOpen - a.halfOpen || b.total - a.total || (a.pid ?? Infinity) - (b.pid ?? Infinity) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The count per state, by state name. */
function stateNames(g: GroupTotals): Record<string, number> {
  const states: Record<string, number> = {};
  g.states.forEach((n, state) => {
    states[tcpStateName(state)] = n;
  });
  return states;
}

/** One row for a unit, container or namespace: its label as the name, its processes' pids. */
function groupRow(key: string, label: string, by: Exclude<GroupBy, "process">, g: GroupTotals, sampleSize: number): ProcessSockets {
  const row: ProcessSockets = {
    name: label,
    halfOpen: g.halfOpen,
    total: g.total,
    states: stateNames(g),
    remotes: topRemotes(g.remotes, sampleSize).map(formatEndpoint),
    distinctRemotes: g.distinctRemotes,
    group: { by, key },
    pids: [...g.pids].sort((a, b) => a - b),
  };
  if (g.uid !== undefined && g.uid !== null) row.uid = g.uid;
  if (g.oldestAgeMs !== undefined) row.oldestAgeMs = g.oldestAgeMs;
  if (g.maxRetransmits !== undefined) row.maxRetransmits = g.maxRetransmits;
  return row;
}
