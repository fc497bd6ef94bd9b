/**
 * ProcfsReader: the host's TCP sockets from /proc, without tracefs or root.
 *
 * Mechanism:
 *   1. list /proc/PID and read each /proc/PID/ns/net: one representative pid
 *      per network namespace (containers included, where readable);
 *   2. parse /proc/<rep>/net/tcp and tcp6 of each namespace, keeping only
 *      SYN_SENT rows unless every state is asked for;
 *   3. join socket inodes to processes through /proc/PID/fd/* links. Owners
 *      found before are cached by inode, so only new inodes cost a walk; the
 *      walk visits recent owners first and stops as soon as every new inode
 *      has an owner.
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
import { parseProcNetTcp, parseSocketLink } from "./proc-net-tcp.js";
import { ProcessInfoCache, tryReadlink } from "./process-info.js";
import { parseNamespaceLink } from "./procfs-parse.js";

export interface ProcfsReaderOptions {
  procRoot?: string;
  /** Read other namespaces too (default true; needs root to see them). */
  allNamespaces?: boolean;
}

/** Counters of the last read, for benchmarks and `--json`. */
export interface ProcfsReadStats {
  namespaces: number;
  pids: number;
  /** Processes whose fd directory was walked. */
  walkedPids: number;
  /** fd links read. */
  readlinks: number;
  /** Inodes whose owner came from the cache. */
  cached: number;
}

let readBuffer = Buffer.allocUnsafe(1 << 20);

/**
 * A whole /proc file as latin1 text, read with large reads (the kernel
 * regenerates /proc/net/tcp per read call, so fewer calls cost less).
 */
function tryRead(path: string): string | undefined {
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
  lastStats: ProcfsReadStats = { namespaces: 0, pids: 0, walkedPids: 0, readlinks: 0, cached: 0 };

  constructor(options: ProcfsReaderOptions = {}) {
    this.#proc = options.procRoot ?? "/proc";
    this.#allNamespaces = options.allNamespaces ?? true;
    this.#info = new ProcessInfoCache({ procRoot: this.#proc });
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
    const stats: ProcfsReadStats = { namespaces: 0, pids: 0, walkedPids: 0, readlinks: 0, cached: 0 };
    const pids: number[] = [];
    for (const name of readdirSync(this.#proc)) {
      const c = name.charCodeAt(0);
      if (c >= 48 && c <= 57) pids.push(Number(name));
    }
    stats.pids = pids.length;

    // 1. One readable pid per network namespace; our own first.
    const namespaces = new Map<number, number[]>();
    const selfNs = parseNamespaceLink(tryReadlink(`${this.#proc}/self/ns/net`) ?? "");
    let unreadableNs = 0;
    if (this.#allNamespaces) {
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
    }

    // 2. Parse each namespace's tables.
    const state = options.allStates ? undefined : TcpState.SYN_SENT;
    const rows: SocketRow[] = [];
    let badLines = 0;
    let firstBad: string | undefined;
    const readTables = (dir: string, netns: number | undefined): boolean => {
      let any = false;
      for (const file of ["tcp", "tcp6"]) {
        const text = tryRead(`${dir}/net/${file}`);
        if (text === undefined) continue;
        any = true;
        const parsed = parseProcNetTcp(text, { ...(netns === undefined ? {} : { netns }), ...(state === undefined ? {} : { state }) });
        for (const r of parsed.rows) rows.push(r);
        badLines += parsed.badLines;
        firstBad ??= parsed.firstBad;
      }
      return any;
    };
    if (namespaces.size === 0) {
      readTables(this.#proc, selfNs);
      stats.namespaces = 1;
    } else {
      for (const [ns, members] of namespaces) {
        // A member may exit between the listing and the read: try the next.
        if (members.some((pid) => readTables(`${this.#proc}/${pid}`, ns))) stats.namespaces++;
      }
    }
    if (badLines > 0) warnings.push(`skipped ${badLines} unreadable line(s) of /proc/net/tcp*: "${firstBad ?? ""}"`);

    // 3. Owners: cached inodes first, then walk fd directories for the new ones.
    const owners = new Map<number, number>();
    const wanted = new Set<number>();
    for (const r of rows) {
      if (!r.inode) continue;
      const cached = this.#owners.get(r.inode);
      if (cached !== undefined) {
        owners.set(r.inode, cached);
        stats.cached++;
      } else wanted.add(r.inode);
    }
    if (wanted.size > 0) this.#walk(pids, wanted, owners, stats);
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

  #walk(pids: number[], wanted: Set<number>, owners: Map<number, number>, stats: ProcfsReadStats): void {
    const recent = new Set(this.#recentOwners);
    const order = [...this.#recentOwners, ...pids.filter((p) => !recent.has(p))];
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
