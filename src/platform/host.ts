/**
 * What the rest of halfopen needs from an operating system, as one
 * interface with one implementation per OS (linux/host.ts, windows/host.ts,
 * macos/host.ts), chosen by select.ts alone (`hostPlatform()`). A new
 * platform is one more implementation and one line in select.ts; nothing
 * else in the program asks which OS it runs on.
 *
 * The watch source and the socket-table reader are chosen in select.ts from
 * `readerName` and `tracefs` below; everything else is here.
 */
import type { HeldSyn } from "../core/enforce/enforcer.js";
import type { ProcessIdentity } from "../core/kill-policy.js";
import type { ProcessInfo } from "../core/events.js";
import type { SocketRow } from "../core/socket-table.js";
import type { NativeHelper } from "./linux/native.js";
import type { CloseFilter, CloseResult } from "./socket-query.js";

/** Host discovery without a half-open slot (ICMP echo and TCP ACK over raw or ping sockets): the native helper's. */
export type HostDiscovery = Pick<NativeHelper, "discover" | "discover6">;

/** What `watch --enforce` asks of the OS (Linux: linux/enforcement.ts). */
export interface EnforcementOptions {
  queueNum: number;
  /** Packets held in the kernel at most; past this, new SYNs fail open. */
  maxLen: number;
  /** Hold loopback SYNs too. */
  loopback: boolean;
  /** Enforce in this network namespace (e.g. /run/netns/NAME) instead of ours. */
  netnsPath?: string;
}

export interface Enforcement {
  /** The rules installed, in words. */
  describe: string;
  steering: string;
  /** Rules a killed run had left, removed at open. */
  leftovers: string[];
  /** The network namespace enforced (its inode, as ProcessInfo.netns has it). */
  netnsInode: number;
  /** Deliver held packets as they come; `accepted`: already let go within the grant; every packet queued before `readAtMs` (CLOCK_MONOTONIC) is delivered. */
  start(onPackets: (packets: { packet: HeldSyn; accepted: boolean }[], readAtMs: number) => void): void;
  /** Let up to `free` more SYNs go at once without asking (free slots while nothing is held). */
  grant(free: number): void;
  verdict(id: number, accept: boolean): void;
  stats(): { packets: number; overflows: number; unreadable: number; verdictErrors: number };
  /** Remove the rules, call `releaseHeld` (it gives every held packet its verdict), unbind. Idempotent. */
  close(releaseHeld: () => void): void;
}

/** The snapshot readers (every source but tracefs). */
export type HostReaderName = "procfs" | "windows" | "macos";

export interface HostPlatform {
  /** Node's name for it ("linux", "win32", "darwin"). */
  readonly os: NodeJS.Platform;
  /** The socket-table reader of this OS (`ls`, polling `watch`); throws NO_SOURCE where there is none. */
  readerName(): HostReaderName;
  /** Whether the live tracefs source may be tried here (watch falls back to the reader when it cannot be used). */
  readonly tracefs: boolean;
  /** Who has this pid now (name, start time, parent, user where the OS tells), or undefined when no process has it. */
  readIdentity(pid: number, procRoot?: string): ProcessIdentity | undefined;
  /** What the OS says of a process now (user, command line), where it tells; undefined elsewhere. */
  readProcessDetails(pid: number): Promise<ProcessInfo | undefined>;
  /** `halfopen close`: destroy a process's half-open sockets (UNSUPPORTED where the OS cannot). */
  closeHalfOpen(pid: number, filter: CloseFilter, found?: SocketRow[]): Promise<CloseResult>;
  /** Raise the open-file limit to the hard one; a note when that cannot be done, nothing where there is no such limit. */
  raiseFileLimit(): Promise<string | undefined>;
  /** Call `onClosed` when standard output's reader has gone, even while nothing is written; returns a stop function. */
  watchStdoutClosed(onClosed: () => void): Promise<() => void>;
  /** Host discovery over raw or ping sockets, where the OS and the native helper have it. */
  loadHostDiscovery(): Promise<HostDiscovery | undefined>;
  /** Whether a child can lead a process group of its own, killed whole. */
  readonly processGroups: boolean;
  /** `watch --enforce`: hold SYNs in a queue of our own; undefined where the OS cannot. */
  loadEnforcement(): Promise<((o: EnforcementOptions) => Enforcement) | undefined>;
  /** Where the incident database lives by default for this user. */
  defaultDbPath(env: NodeJS.ProcessEnv, uid: number | undefined): string;
}
