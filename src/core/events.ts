/**
 * The neutral event stream every platform source produces and the core
 * consumes. Times are milliseconds on a monotonic clock (the Linux source
 * uses CLOCK_MONOTONIC, the same clock as `process.hrtime`). Pure types.
 */
import type { Endpoint, IpFamily } from "./endpoint.js";

/** What was known about a process when its first attempt was seen. */
/** A container, as its cgroup names it. */
export interface ContainerRef {
  /** docker, containerd, cri-o, podman, lxc, or cri (a Kubernetes container whose runtime the path does not name). */
  runtime: string;
  /** The full id (64 hex digits), or the container's name for LXC. */
  id: string;
  /** The first 12 characters of a hex id (as `docker ps` shows it); the name for LXC. */
  shortId: string;
}

/** A Kubernetes pod, as its cgroup names it. */
export interface PodRef {
  uid: string;
  /** guaranteed, burstable or besteffort. */
  qos: string;
}

export interface ProcessInfo {
  /** Process id (thread group id on Linux). */
  pid: number;
  /** Short name (Linux comm, at most 15 bytes). Controlled by the process: sanitize before display. */
  name: string;
  /** Executable path, when it could be read. */
  exe?: string;
  /** Command line arguments, when they could be read. Controlled by the process. */
  cmdline?: string[];
  uid?: number;
  user?: string;
  ppid?: number;
  /** Network namespace inode (`/proc/PID/ns/net`). */
  netns?: number;
  /** Its name, where one is bound under /run/netns (`ip netns add NAME`). */
  netnsName?: string;
  /** The cgroup the process ran in, and what that says: systemd unit, container, Kubernetes pod (core/attribution.ts). */
  cgroup?: string;
  unit?: string;
  slice?: string;
  container?: ContainerRef;
  pod?: PodRef;
  /** Process start time in clock ticks since boot; with `pid` it identifies a process across pid reuse. */
  startTime?: number;
  /** True when the process was already gone (or being reaped) and only some details are known. */
  partial?: boolean;
  /** Fields cut to MAX_PROCESS_TEXT_BYTES (core/process-text.ts), e.g. ["cmdline"]. */
  truncated?: string[];
}

/** A socket moved CLOSE -> SYN_SENT: an outbound connect attempt started. */
export interface ConnectEvent {
  type: "connect";
  time: number;
  /** Kernel socket identity (skaddr on Linux); unique while the socket lives. */
  sock: string;
  /**
   * A small whole number the source gives the socket while its attempt lives, reused only after (the tracefs
   * source's socket ids): the tracker then indexes an array instead of hashing `sock`. Optional; but once a connect
   * carries one, every later event of that socket (leave, reset, retransmit, drop) must carry the same, or it is
   * not found. Not recorded (`--record` leaves it out).
   */
  slot?: number;
  /** Process id (thread group) that called connect(). */
  pid: number;
  /** Thread id that called connect(), when known. */
  tid?: number;
  family: IpFamily;
  src: Endpoint;
  dst: Endpoint;
  process: ProcessInfo;
  /** Already half-open when the source started (read from the socket table, not seen entering SYN_SENT). */
  seenAtStart?: boolean;
  /**
   * Not a connect(): a TCP SYN the process wrote itself through a raw IP
   * socket ("raw") or a packet socket ("packet"), seen on the wire. `sock`
   * is then a key of the source's own.
   */
  via?: "raw" | "packet";
}

/** A socket left SYN_SENT. */
export interface LeaveEvent {
  type: "leave";
  time: number;
  sock: string;
  /** As ConnectEvent.slot. */
  slot?: number;
  /** New kernel TCP state (1 = ESTABLISHED, 7 = CLOSE, ...). */
  newState: number;
  /** Local port assigned by the kernel (0 at connect time). */
  srcPort?: number;
  /** True when the change ran in interrupt context (softirq): timer or packet, not the process. */
  inInterrupt: boolean;
  /**
   * Set by polling sources when the socket was simply gone at the next poll:
   * the outcome (refused, timed out or closed) cannot be told, so it is "unknown".
   */
  vanished?: boolean;
}

/** A RST arrived on the socket. */
export interface ResetEvent {
  type: "reset";
  time: number;
  sock: string;
  /** As ConnectEvent.slot. */
  slot?: number;
}

/** The SYN was retransmitted (no answer yet). */
export interface RetransmitEvent {
  type: "retransmit";
  time: number;
  sock: string;
  /** As ConnectEvent.slot. */
  slot?: number;
}

/** A process (whole thread group) exited. */
export interface ExitEvent {
  type: "exit";
  time: number;
  pid: number;
  name: string;
}

/** The source lost events (ring buffer full). Counts are exact when the kernel stores them. */
export interface LostEvent {
  type: "lost";
  time: number;
  count: number;
  /** CPU whose buffer overflowed, when known. */
  cpu?: number;
}

/**
 * The source was blind for a while: it could not see attempts at all (for
 * the tracefs source, someone switched its instance's tracing off). Unlike
 * `lost`, the number of attempts missed is unknown.
 */
export interface BlindEvent {
  type: "blind";
  /** When the source noticed (and, unless `ongoing`, repaired) it. */
  time: number;
  /** The earliest time it may have started. */
  since: number;
  durationMs: number;
  reason: string;
  /** Still blind: the source could not repair it. */
  ongoing?: boolean;
}

/**
 * The OS itself reported hitting its half-open limit: Windows Event 4226
 * ("TCP/IP has reached the security limit imposed on the number of
 * concurrent TCP connect attempts"). It names no process; the monitor files
 * it beside the attempts it counted.
 */
export interface OsLimitEvent {
  type: "os-limit";
  time: number;
  /** When the OS logged it, ms since the epoch. */
  timeWall: number;
  /** e.g. "Windows Event 4226 (Tcpip)". */
  source: string;
  /** Event log record number, when known. */
  recordId?: number;
}

/**
 * A DNS answer this host received: `address` was given for `name` (the name
 * asked for), valid `ttl` seconds. Names in verdicts and output come from
 * these, never from a reverse lookup. Controlled by whoever answered.
 */
export interface DnsEvent {
  type: "dns";
  time: number;
  address: string;
  name: string;
  ttl: number;
  /** The network namespace (inode) the answer arrived in: it names that address for the processes there. */
  netns?: number;
}

/** This host dropped the attempt's SYN (a firewall rule, a BPF program, a full queue), with the kernel's reason. */
export interface DropEvent {
  type: "drop";
  time: number;
  sock: string;
  /** As ConnectEvent.slot. */
  slot?: number;
  /** The kernel's drop reason, e.g. NETFILTER_DROP (include/net/dropreason-core.h). */
  reason: string;
}

export type ConnectionEvent = ConnectEvent | LeaveEvent | ResetEvent | RetransmitEvent | ExitEvent | LostEvent | BlindEvent | OsLimitEvent | DnsEvent | DropEvent;
