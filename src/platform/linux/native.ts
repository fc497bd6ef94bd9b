/**
 * The optional native helper (native/halfopen_native.cc), compiled from source
 * by `npm install` on Linux: a sock_diag dump of one namespace's TCP sockets
 * with the state filter applied in the kernel, and the /proc/PID/fd walk in
 * threads, each also off the JS thread (a promise); a wake-up of the tracefs
 * source when its buffers have data (the event loop's own epoll) and a read of all its pages in one call; setrlimit for open files. `prefetchSocketScan`
 * starts both at launch for `ls`; the procfs reader takes them. Without the
 * helper halfopen reads /proc/net/tcp and walks fds in Node; results are the
 * same, only slower with many sockets.
 *
 *   HALFOPEN_NATIVE=0        never load it (the /proc/net/tcp path);
 *   HALFOPEN_NATIVE=require  fail with HALFOPEN_NO_SOURCE if it cannot load.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { ErrorCodes, HalfOpenError } from "../../errors.js";

/** What scanSockets resolves to: one owner per socket inode. */
export interface SocketScan {
  inodes: Uint32Array;
  pids: Int32Array;
  walkedPids: number;
  readlinks: number;
}

/** Threads of the native fd walk: readlink is kernel work, which spreads over cores. */
export const WALK_THREADS = Math.min(4, availableParallelism());

export interface DiscoverOptions {
  icmp: boolean;
  ackPorts: number[];
  timeoutMs: number;
  perSecond: number;
  sourcePort: number;
}

export interface NativeHelper {
  /** Raw netlink messages of one dump (see inet-diag.ts); throws with `code` = errno name. */
  sockDiag(family: number, states: number, netnsPath?: string): Buffer;
  /** Owner pid of each wanted inode (0: none found). */
  socketOwners(procRoot: string, pids: Int32Array, wanted: Uint32Array, threads: number): { owners: Int32Array; walkedPids: number; readlinks: number };
  /** sockDiag off the JS thread. */
  sockDiagAsync(family: number, states: number, netnsPath?: string): Promise<Buffer>;
  /** Every socket link of the processes (inode and pid pairs), walked off the JS thread. */
  scanSockets(procRoot: string, pids: Int32Array, threads: number): Promise<SocketScan>;
  /**
   * Calls `onReadable` once any fd is readable, then waits for `rearm()`: on the event loop's own epoll (fds only we
   * use: tracefs, capture sockets), or with `ownThread` on a poll thread of its own (an fd libuv also watches, such as
   * standard output: one fd must not have two watchers in one loop).
   */
  watchReadable(fds: Int32Array, onReadable: () => void, ownThread?: boolean): { rearm(): void; stop(): void; mode?: "event-loop" };
  /** Raise the soft RLIMIT_NOFILE to the hard limit. */
  raiseNofileLimit(): { before: number; soft: number; hard: number };
  /** The tracefs records of watch's hot path decoded into columns (tracefs-columns.ts); config from stateDecoderConfig. */
  createStateDecoder(config: Int32Array): StateDecoder;
  /** ICMP echo and TCP ACK to IPv4 addresses (host order); [address, kind (1 echo reply, 2 RST), rtt ms] triples. Rejects with code EPERM without CAP_NET_RAW and ping sockets. */
  discover(addresses: Uint32Array, options: DiscoverOptions): Promise<{ replies: Float64Array; mode: "raw" | "ping-socket" }>;
  /** The same for IPv6: 16 bytes per address; [index in addresses, kind, rtt ms] triples. */
  discover6(addresses: Uint8Array, options: DiscoverOptions): Promise<{ replies: Float64Array; mode: "raw" | "ping-socket" }>;
  /** Per-CPU capture sockets (PACKET_FANOUT_CPU) of the namespace of `netnsPath` ("" ours), kernel-filtered to outgoing SYNs and incoming SYN-ACKs and RSTs. */
  captureOpen(netnsPath: string, sockets: number, kind?: 0 | 1): Int32Array;
  /** Up to maxPackets captured packets (raw-capture.ts parses them), each cut to `snap` bytes (default 128); undefined when there were none. */
  captureRead(fds: Int32Array, maxPackets: number, snap?: number): Buffer | undefined;
  /** Which fds are readable now (one poll(2), no wait): ready[i] 1 or 0; returns how many are. */
  pollReadable(fds: Int32Array, ready: Uint8Array): number;
  /** A socket that keeps the kernel's packet time stamping on while open (close the fd to release it). */
  holdTimestamps(): number;
  /** Packets the capture sockets dropped (receive buffer full) since the last call. */
  captureDrops(fds: Int32Array): number;
  /** A netlink socket bound to NFQUEUE `queueNum` of the namespace of `netnsPath` ("" ours): headers copied, fail-open, owner uid/gid; throws with code EBUSY when another program has it. */
  nfqOpen(netnsPath: string, queueNum: number, maxLen: number): number;
  /** Verdicts (0 drop, 1 accept) for packet ids, in one send. */
  nfqVerdict(fd: number, queueNum: number, ids: Uint32Array, verdicts: Uint8Array): number;
  /** A thread that reads the queue and accepts at once as many SYNs as granted (see halfopen_native.cc); onData: take() what came. */
  nfqPump(fd: number, queueNum: number, onData: () => void): NfqPump;
  readonly abi: number;
}

/**
 * Reads and decodes ring-buffer pages into columns (tracefs-columns.ts): records at ts[i] and fields[i * 8 ..] from
 * i = 0; meta gets [records, pages, a page said events were lost (1), stopped for room in the columns (1)]. A
 * malformed page throws with code EBADPAGE.
 */
export interface StateDecoder {
  /** Every page the fds have now (those with ready[i] set, when ready is given), at most maxPagesPerFd each, read into buf (pageSize slots) and decoded. */
  read(fds: Int32Array, buf: Buffer, pageSize: number, maxPagesPerFd: number, ts: Float64Array, fields: Int32Array, meta: Int32Array, ready?: Uint8Array): void;
  /** Pages already in buf (slot i holds lengths[i] bytes) decoded. */
  decode(buf: Buffer, lengths: Int32Array, pageSize: number, ts: Float64Array, fields: Int32Array, meta: Int32Array): void;
  /** Socket addresses that have an id now. */
  ids(): number;
}

export interface NfqPump {
  /** Every packet message since the last take, the ids the thread accepted itself, ENOBUFS seen, and when it last read (CLOCK_MONOTONIC ms: every packet queued before is in `messages` or an earlier take). */
  take(): { messages: Buffer; accepted: Uint32Array; overflows: number; readAtMs: number };
  /** Fast accepts allowed in all (only grows). */
  grant(total: number): void;
  used(): number;
  stop(): void;
}

/** Where node-gyp puts the helper: build/Release at the package root (same depth from src/ and dist/). */
const ADDON = "../../../build/Release/halfopen_native.node";
const ABI = 9;

let loaded: { helper?: NativeHelper; why?: string } | undefined;

/** The helper, or undefined with the reason in `nativeUnavailableReason()`. */
export function loadNative(): NativeHelper | undefined {
  if (!loaded) {
    const mode = process.env.HALFOPEN_NATIVE;
    // Only Linux code paths call this (select.ts chooses them).
    if (mode === "0") loaded = { why: "HALFOPEN_NATIVE=0" };
    else {
      try {
        const helper = createRequire(import.meta.url)(ADDON) as NativeHelper;
        loaded = helper.abi === ABI ? { helper } : { why: `native helper has ABI ${helper.abi}, expected ${ABI}: run npm rebuild` };
      } catch (e) {
        loaded = { why: `native helper not built (${(e as Error).message.split("\n")[0] ?? ""})` };
      }
    }
    if (!loaded.helper && mode === "require") {
      throw new HalfOpenError(ErrorCodes.NO_SOURCE, `HALFOPEN_NATIVE=require, but the native helper cannot be used: ${loaded.why ?? ""}; build it with \`npm rebuild halfopen\` (needs g++, make, python3 and Node's headers)`);
    }
  }
  return loaded.helper;
}

export function nativeUnavailableReason(): string | undefined {
  loadNative();
  return loaded?.why;
}

/** The numeric entries of /proc: every process. */
export function listPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

interface Prefetched {
  procRoot: string;
  started: number;
  /** Each is handed out once. */
  scan: Promise<SocketScan> | undefined;
  /** This process's network namespace link (`net:[N]`) and a dump of it. */
  netns: string;
  states: number;
  dump: Promise<Buffer> | undefined;
  /** Settles when the walk has finished (whether or not it was taken). */
  walked: Promise<void>;
}

let prefetched: Prefetched | undefined;

/**
 * Start, on other threads, what a read of the socket table is about to
 * need: the fd walk of every process and a sock_diag dump (`states` mask,
 * both families) of this process's namespace. `halfopen ls` calls it before
 * loading the rest of the CLI, so both run while Node compiles modules.
 * Does nothing without the helper; never throws.
 */
export function prefetchSocketScan(states: number, procRoot = "/proc"): void {
  try {
    const helper = loadNative();
    if (!helper) return;
    const netns = readlinkSync(`${procRoot}/self/ns/net`);
    const dump = helper.sockDiagAsync(0, states);
    const scan = helper.scanSockets(procRoot, Int32Array.from(listPids(procRoot)), WALK_THREADS);
    // The reader sees a rejection if it takes them; nobody else must.
    dump.catch(() => undefined);
    scan.catch(() => undefined);
    prefetched = { procRoot, started: performance.now(), scan, netns, states, dump, walked: scan.then(() => undefined, () => undefined) };
  } catch {
    // the reader reports what is wrong when it runs
  }
}

function fresh(procRoot: string, maxAgeMs: number): Prefetched | undefined {
  const p = prefetched;
  return p && p.procRoot === procRoot && performance.now() - p.started <= maxAgeMs ? p : undefined;
}

/** Settles once the walk `prefetchSocketScan` started has finished (tests); undefined when none was started. */
export function prefetchWalked(): Promise<void> | undefined {
  return prefetched?.walked;
}

/** The prefetched walk, once, if it is of `procRoot` and started less than `maxAgeMs` ago. */
export function takeSocketScan(procRoot: string, maxAgeMs = 2000): Promise<SocketScan> | undefined {
  const p = fresh(procRoot, maxAgeMs);
  const scan = p?.scan;
  if (p) p.scan = undefined;
  return scan;
}

/** The prefetched dump, once, if it is of namespace link `netns` with exactly these `states`. */
export function takeSocketDump(procRoot: string, netns: string, states: number, maxAgeMs = 2000): Promise<Buffer> | undefined {
  const p = fresh(procRoot, maxAgeMs);
  if (!p || p.netns !== netns || p.states !== states) return undefined;
  const dump = p.dump;
  p.dump = undefined;
  return dump;
}
