/**
 * ProcfsReader: the host's TCP sockets from /proc, without tracefs or root.
 *
 * Mechanism:
 *   1. list /proc/PID and read each /proc/PID/ns/net: one representative pid
 *      per network namespace (containers included, where readable);
 *   2. each namespace's TCP sockets: with the native helper (native.ts), a
 *      sock_diag dump with the state filter in the kernel, joining the
 *      namespace on a helper thread (root) for namespaces other than ours;
 *      else, or when that is refused, /proc/<rep>/net/tcp and tcp6 parsed,
 *      keeping only SYN_SENT rows unless every state is asked for. Both give
 *      the same rows;
 *   3. join socket inodes to processes through /proc/PID/fd/* links. Owners
 *      found before are cached by inode, so only new inodes cost a walk; the
 *      walk visits recent owners first and stops as soon as every new inode
 *      has an owner. The native helper walks in threads.
 *
 * Needs: Linux /proc. Without root, other users' fd and ns links cannot be
 * read: their sockets are still counted (with the uid the kernel prints), but
 * no pid or name is given, and other namespaces are not seen; a warning says so.
 */
import { accessSync, closeSync, constants, openSync, readSync, readdirSync } from "node:fs";
import type { ProcessInfo } from "../../core/events.js";
import type { SocketRow, SocketSnapshot } from "../../core/socket-table.js";
import { TcpState } from "../../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { ReadOptions, SocketRead, SocketReader } from "../polling-source.js";
import { ALL_STATES_MASK, BOTH_FAMILIES, parseInetDiag, stateMask } from "./inet-diag.js";
import { parseProcNetPacket, parseProcNetRaw, type RawSocketRow } from "./proc-net-raw.js";
import { type NativeHelper, type SocketScan, WALK_THREADS, listPids, loadNative, takeSocketDump, takeSocketScan } from "./native.js";
import { parseProcNetTcp, parseSocketLink } from "./proc-net-tcp.js";
import { ProcessInfoCache, tryReadlink } from "./process-info.js";
import { parseNamespaceLink } from "./procfs-parse.js";

export interface ProcfsReaderOptions {
  procRoot?: string;
  /** Read other namespaces too (default true; needs root to see them). */
  allNamespaces?: boolean;
  /**
   * The native helper: default loadNative() when procRoot is /proc; null
   * reads /proc/net/tcp and walks fds in Node.
   */
  native?: NativeHelper | null;
}

/** How a read got its tables: the kernel's sock_diag, /proc/net/tcp, or both (per namespace). */
export type TableMethod = "sock_diag" | "proc_net_tcp" | "sock_diag+proc_net_tcp";

/** Counters of the last read, for benchmarks and `--json`. */
/** A process holding raw or packet sockets that can send TCP, and those sockets (with their network namespace). */
export interface RawSender {
  pid: number;
  process: ProcessInfo;
  sockets: (RawSocketRow & { netns?: number })[];
}

export interface RawSenders {
  senders: RawSender[];
  warnings: string[];
}

export interface ProcfsReadStats {
  namespaces: number;
  pids: number;
  /** Processes whose fd directory was walked. */
  walkedPids: number;
  /** fd links read. */
  readlinks: number;
  /** Inodes whose owner came from the cache. */
  cached: number;
  /** Namespaces read through sock_diag, and through /proc/net/tcp. */
  diagNamespaces: number;
  textNamespaces: number;
}

function emptyStats(): ProcfsReadStats {
  return { namespaces: 0, pids: 0, walkedPids: 0, readlinks: 0, cached: 0, diagNamespaces: 0, textNamespaces: 0 };
}

let readBuffer = Buffer.allocUnsafe(1 << 20);

/**
 * A whole /proc file as latin1 text, read with large reads (the kernel
 * regenerates /proc/net/tcp per read call, so fewer calls cost less).
 */
function readProcText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    let off = 0;
    for (;;) {
      if (off === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(bigger, 0, 0, off);
        readBuffer = bigger;
      }
      const n = readSync(fd, readBuffer, off, readBuffer.length - off, null);
      if (n === 0) break;
      off += n;
    }
    return readBuffer.toString("latin1", 0, off);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export class ProcfsReader implements SocketReader {
  readonly name = "procfs";
  readonly caveats: string[] = [];
  readonly #proc: string;
  readonly #allNamespaces: boolean;
  readonly #info: ProcessInfoCache;
  /** inode -> owning pid, for inodes seen in the previous read. */
  #owners = new Map<number, number>();
  /** Pids that owned sockets at the last read: walked first. */
  #recentOwners: number[] = [];
  readonly #native: NativeHelper | undefined;
  /** Set when a dump failed for a reason other than permission: use /proc/net/tcp from then on. */
  #diagBroken = false;
  /** Namespaces we may not join (no root): read through /proc/PID/net/tcp without asking again. */
  readonly #refused = new Set<number>();
  lastStats: ProcfsReadStats = emptyStats();

  constructor(options: ProcfsReaderOptions = {}) {
    this.#proc = options.procRoot ?? "/proc";
    this.#allNamespaces = options.allNamespaces ?? true;
    this.#info = new ProcessInfoCache({ procRoot: this.#proc });
    this.#native = options.native === null ? undefined : (options.native ?? (this.#proc === "/proc" ? loadNative() : undefined));
  }

  /** How the last read got its tables. */
  get method(): TableMethod {
    const { diagNamespaces: d, textNamespaces: t } = this.lastStats;
    return d > 0 && t > 0 ? "sock_diag+proc_net_tcp" : d > 0 ? "sock_diag" : "proc_net_tcp";
  }

  async probe(): Promise<void> {
    try {
      accessSync(`${this.#proc}/net/tcp`, constants.R_OK);
    } catch {
      throw new HalfOpenError(ErrorCodes.NO_SOURCE, `Cannot read "${this.#proc}/net/tcp": the procfs source needs Linux with /proc mounted`);
    }
  }

  async read(now: number, options: ReadOptions = {}): Promise<SocketRead> {
    const warnings: string[] = [];
    const stats = emptyStats();
    const pids = listPids(this.#proc);
    stats.pids = pids.length;
    // With nothing cached (ls, a first poll), walk every fd on other threads
    // while the tables are read (or take the walk `ls` started at launch).
    const scan =
      this.#native && this.#owners.size === 0
        ? (takeSocketScan(this.#proc) ?? this.#native.scanSockets(this.#proc, Int32Array.from(pids), WALK_THREADS))
        : undefined;

    // 1. One readable pid per network namespace; our own first.
    const selfLink = tryReadlink(`${this.#proc}/self/ns/net`) ?? "";
    const selfNs = parseNamespaceLink(selfLink);
    const { namespaces, unreadableNs } = this.#allNamespaces ? this.#namespaces(pids) : { namespaces: new Map<number, number[]>(), unreadableNs: 0 };

    // 2. Parse each namespace's tables.
    const state = options.allStates ? undefined : TcpState.SYN_SENT;
    const rows: SocketRow[] = [];
    let badLines = 0;
    let firstBad: string | undefined;
    const readTables = (dir: string, netns: number | undefined): boolean => {
      let any = false;
      for (const file of ["tcp", "tcp6"]) {
        const text = readProcText(`${dir}/net/${file}`);
        if (text === undefined) continue;
        any = true;
        const parsed = parseProcNetTcp(text, { ...(netns === undefined ? {} : { netns }), ...(state === undefined ? {} : { state }) });
        for (const r of parsed.rows) rows.push(r);
        badLines += parsed.badLines;
        firstBad ??= parsed.firstBad;
      }
      if (any) stats.textNamespaces++;
      return any;
    };
    const mask = state === undefined ? ALL_STATES_MASK : stateMask([state]);
    // Our own namespace may have been dumped at launch (`ls`), off the JS thread.
    const early = this.#native ? takeSocketDump(this.#proc, selfLink, mask) : undefined;
    /** sock_diag in namespace `netns` (joined through `pid`'s link unless it is ours); false: use the text. */
    const dumpTables = async (netns: number | undefined, pid: number | undefined): Promise<boolean> => {
      const native = this.#native;
      if (!native || this.#diagBroken || (pid !== undefined && netns !== undefined && this.#refused.has(netns))) return false;
      const path = pid === undefined ? undefined : `${this.#proc}/${pid}/ns/net`;
      let parsed;
      try {
        const taken = pid === undefined ? await early?.catch(() => undefined) : undefined;
        parsed = parseInetDiag(taken ?? native.sockDiag(BOTH_FAMILIES, mask, path), netns === undefined ? {} : { netns });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // EPERM/EACCES: joining another namespace needs root; ENOENT: pid gone. Other errors: no sock_diag here.
        if ((code === "EPERM" || code === "EACCES") && netns !== undefined) this.#refused.add(netns);
        else if (code !== "ENOENT") this.#diagBroken = true;
        return false;
      }
      if (!parsed.done || parsed.errno !== undefined || parsed.badMessages > 0) {
        // A kernel without tcp_diag answers ENOENT; anything odd: the text is the reference.
        this.#diagBroken = true;
        return false;
      }
      for (const r of parsed.rows) rows.push(r);
      stats.diagNamespaces++;
      return true;
    };
    const readTextOf = (ns: number, members: number[]) => members.some((pid) => readTables(`${this.#proc}/${pid}`, ns));
    if (namespaces.size === 0) {
      if (!(await dumpTables(selfNs, undefined))) readTables(this.#proc, selfNs);
      stats.namespaces = 1;
    } else {
      for (const [ns, members] of namespaces) {
        // A member may exit between the listing and the read: try the next.
        let read = false;
        if (ns === selfNs) read = (await dumpTables(ns, undefined)) || readTextOf(ns, members);
        else for (const pid of members) if ((read = (await dumpTables(ns, pid)) || readTables(`${this.#proc}/${pid}`, ns))) break;
        if (read) stats.namespaces++;
      }
    }
    if (badLines > 0) warnings.push(`skipped ${badLines} unreadable line(s) of /proc/net/tcp*: "${firstBad ?? ""}"`);

    // 3. Owners.
    const owners = await this.#ownersOf(scan, rows, pids, stats);
    this.#owners = owners;

    const processes = new Map<number, ProcessInfo>();
    const ownerPids = new Set<number>();
    let unowned = 0;
    for (const r of rows) {
      const pid = r.inode ? owners.get(r.inode) : undefined;
      if (pid === undefined) {
        if (r.inode) unowned++;
        continue;
      }
      r.pid = pid;
      ownerPids.add(pid);
      if (!processes.has(pid)) processes.set(pid, this.#info.resolve(pid));
    }
    this.#recentOwners = [...ownerPids];
    if (unowned > 0) {
      const root = process.geteuid?.() === 0;
      warnings.push(
        root
          ? `${unowned} socket(s) have no owner among the processes visible here (closed meanwhile, or held by a process outside this PID namespace)`
          : `${unowned} socket(s) belong to processes this user cannot inspect; run as root to name them`,
      );
    }
    if (this.#allNamespaces && unreadableNs > 0 && process.geteuid?.() !== 0) {
      warnings.push("other network namespaces (containers) are not visible without root");
    }
    const alive = new Set(pids);
    for (const pid of this.#info.knownPids()) if (!alive.has(pid)) this.#info.processExited(pid);
    this.lastStats = stats;
    const snapshot: SocketSnapshot = { time: now, source: this.name, rows, processes, warnings };
    return { snapshot, alivePids: alive };
  }

  /**
   * The processes holding raw or packet sockets that can send a TCP SYN
   * without connect() (proc-net-raw.ts says which), in every network
   * namespace this user can read: /proc/PID/net/raw, raw6 and packet of one
   * member of each namespace, then the owners of those inodes. Costs one
   * small read per namespace and, only when such sockets exist, an fd walk.
   */
  rawSenders(): RawSenders {
    const pids = listPids(this.#proc);
    const selfNs = parseNamespaceLink(tryReadlink(`${this.#proc}/self/ns/net`) ?? "");
    const { namespaces } = this.#allNamespaces ? this.#namespaces(pids) : { namespaces: new Map<number, number[]>() };
    if (namespaces.size === 0 && selfNs !== undefined) namespaces.set(selfNs, []);
    const wanted = new Map<number, RawSocketRow & { netns?: number }>();
    let badLines = 0;
    for (const [ns, members] of namespaces) {
      const dirs = ns === selfNs ? [this.#proc, ...members.map((p) => `${this.#proc}/${p}`)] : members.map((p) => `${this.#proc}/${p}`);
      for (const dir of dirs) {
        const raw = readProcText(`${dir}/net/raw`);
        if (raw === undefined) continue; // that member is gone: the next one
        const tables = [parseProcNetRaw(raw, 4), parseProcNetRaw(readProcText(`${dir}/net/raw6`) ?? "", 6), parseProcNetPacket(readProcText(`${dir}/net/packet`) ?? "")];
        for (const t of tables) {
          badLines += t.badLines;
          for (const r of t.rows) if (r.canSendTcp) wanted.set(r.inode, { ...r, netns: ns });
        }
        break;
      }
    }
    const senders = new Map<number, RawSender>();
    const owners = new Map<number, number>();
    if (wanted.size > 0) {
      const stats = emptyStats();
      const missing = new Set(wanted.keys());
      if (this.#native) this.#walkNative(this.#native, pids, missing, owners, stats);
      else this.#walk(pids, missing, owners, stats);
      for (const [inode, row] of wanted) {
        const pid = owners.get(inode);
        if (pid === undefined) continue;
        const s = senders.get(pid) ?? { pid, process: this.#info.resolve(pid), sockets: [] };
        s.sockets.push(row);
        senders.set(pid, s);
      }
    }
    const unowned = [...wanted.keys()].filter((i) => !owners.has(i)).length;
    const warnings = [
      ...(badLines > 0 ? [`skipped ${badLines} unreadable line(s) of /proc/net/raw, raw6 or packet`] : []),
      ...(unowned > 0 ? [`${unowned} raw or packet socket(s) able to send TCP have no owner this user can see${process.geteuid?.() === 0 ? "" : "; run as root to name them"}`] : []),
    ];
    return { senders: [...senders.values()].sort((a, b) => a.pid - b.pid), warnings };
  }

  /** Each pid's network namespace (pids whose link cannot be read are counted). */
  #namespaces(pids: readonly number[]): { namespaces: Map<number, number[]>; unreadableNs: number } {
    const namespaces = new Map<number, number[]>();
    let unreadableNs = 0;
    for (const pid of pids) {
      const ns = parseNamespaceLink(tryReadlink(`${this.#proc}/${pid}/ns/net`) ?? "");
      if (ns === undefined) {
        unreadableNs++;
        continue;
      }
      const list = namespaces.get(ns);
      if (list) list.push(pid);
      else namespaces.set(ns, [pid]);
    }
    return { namespaces, unreadableNs };
  }

  /**
   * The owner pid of each socket inode. After a full scan: every socket
   * link's owner. Else cached inodes first, then a walk of the fd
   * directories for the new ones.
   */
  async #ownersOf(scan: Promise<SocketScan> | undefined, rows: readonly SocketRow[], pids: number[], stats: ProcfsReadStats): Promise<Map<number, number>> {
    let owners: Map<number, number>;
    if (scan) {
      const all = await scan;
      owners = new Map();
      for (let i = 0; i < all.inodes.length; i++) owners.set(all.inodes[i] as number, all.pids[i] as number);
      stats.walkedPids += all.walkedPids;
      stats.readlinks += all.readlinks;
      // A socket made after the walk passed its process has no owner yet:
      // look for those (the ones this user could see) once more.
      const euid = process.geteuid?.();
      const late = new Set<number>();
      for (const r of rows) if (r.inode && !owners.has(r.inode) && (euid === 0 || r.uid === euid)) late.add(r.inode);
      if (late.size > 0) this.#walkNative(this.#native as NativeHelper, pids, late, owners, stats);
    } else {
      owners = new Map();
      const wanted = new Set<number>();
      for (const r of rows) {
        if (!r.inode) continue;
        const cached = this.#owners.get(r.inode);
        if (cached !== undefined) {
          owners.set(r.inode, cached);
          stats.cached++;
        } else wanted.add(r.inode);
      }
      if (wanted.size > 0) {
        if (this.#native) this.#walkNative(this.#native, pids, wanted, owners, stats);
        else this.#walk(pids, wanted, owners, stats);
      }
    }
    return owners;
  }

  #walkOrder(pids: number[]): number[] {
    const recent = new Set(this.#recentOwners);
    return [...this.#recentOwners, ...pids.filter((p) => !recent.has(p))];
  }

  #walkNative(native: NativeHelper, pids: number[], wanted: Set<number>, owners: Map<number, number>, stats: ProcfsReadStats): void {
    const inodes = Uint32Array.from(wanted);
    const found = native.socketOwners(this.#proc, Int32Array.from(this.#walkOrder(pids)), inodes, WALK_THREADS);
    for (let i = 0; i < inodes.length; i++) {
      const pid = found.owners[i] as number;
      if (pid > 0) owners.set(inodes[i] as number, pid);
    }
    stats.walkedPids += found.walkedPids;
    stats.readlinks += found.readlinks;
  }

  #walk(pids: number[], wanted: Set<number>, owners: Map<number, number>, stats: ProcfsReadStats): void {
    const order = this.#walkOrder(pids);
    for (const pid of order) {
      if (wanted.size === 0) return;
      const dir = `${this.#proc}/${pid}/fd`;
      let fds: string[];
      try {
        fds = readdirSync(dir);
      } catch {
        continue; // gone, or not ours to read
      }
      stats.walkedPids++;
      for (const fd of fds) {
        const link = tryReadlink(`${dir}/${fd}`);
        stats.readlinks++;
        if (link === undefined) continue;
        const inode = parseSocketLink(link);
        if (inode !== undefined && wanted.delete(inode)) {
          owners.set(inode, pid);
          if (wanted.size === 0) return;
        }
      }
    }
  }
}
