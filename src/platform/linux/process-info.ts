/**
 * ProcessInfoCache: what we know of each process, read from /proc once, when
 * its first connect attempt is seen, and kept because the process may be gone
 * by the time an incident is reported. Keyed by thread id (the tracepoint
 * reports the connecting thread) and shared per thread group.
 *
 * Needs: Linux /proc (root to read other users' exe and ns links).
 * Caveat: a process that exits within a few microseconds of its connect() is
 * recorded with `partial: true`; its name arrives with its exit event.
 */
import { readFileSync, readlinkSync } from "node:fs";
import type { ProcessInfo } from "../../core/events.js";
import { parseCmdline, parseNamespaceLink, parsePasswd, parseProcStatStartTime, parseProcStatus } from "./procfs-parse.js";

export interface ProcessInfoCacheOptions {
  procRoot?: string;
  passwdPath?: string;
  /** Cache bound; the oldest entries are dropped past it. Default 65536. */
  maxEntries?: number;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The target of a link, or undefined when it is gone or not ours to read. */
export function tryReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

export class ProcessInfoCache {
  readonly #proc: string;
  readonly #passwdPath: string;
  readonly #max: number;
  readonly #byTid = new Map<number, ProcessInfo>();
  readonly #byPid = new Map<number, ProcessInfo>();
  #users?: Map<number, string>;

  constructor(options: ProcessInfoCacheOptions = {}) {
    this.#proc = options.procRoot ?? "/proc";
    this.#passwdPath = options.passwdPath ?? "/etc/passwd";
    this.#max = options.maxEntries ?? 65_536;
  }

  /** Info for the process owning thread `tid`, read from /proc on first sight. */
  resolve(tid: number): ProcessInfo {
    const cached = this.#byTid.get(tid);
    if (cached) return cached;
    const info = this.#read(tid);
    this.#remember(tid, info);
    return info;
  }

  /**
   * A thread exited. Returns the process it belonged to; when the process is
   * only partially known, the kernel's comm fills in its name.
   */
  threadExited(tid: number, comm: string): ProcessInfo {
    const info = this.#byTid.get(tid) ?? { pid: tid, name: comm, partial: true };
    if (info.partial && (info.name === "" || info.name === "?")) info.name = comm;
    this.#byTid.delete(tid);
    return info;
  }

  /** The process whose pid is `pid`, if it was read (its leader thread's id is its pid). */
  knownProcess(pid: number): ProcessInfo | undefined {
    return this.#byPid.get(pid) ?? (this.#byTid.get(pid)?.pid === pid ? this.#byTid.get(pid) : undefined);
  }

  /** The whole process is gone: forget it. */
  processExited(pid: number): void {
    this.#byPid.delete(pid);
    this.#byTid.delete(pid);
  }

  /** A process exec'd: its name and command line changed. */
  execed(pid: number, oldPid: number): void {
    for (const id of [pid, oldPid]) {
      this.#byTid.delete(id);
      this.#byPid.delete(id);
    }
  }

  /** Pids of the processes read so far. */
  knownPids(): number[] {
    return [...this.#byPid.keys()];
  }

  get size(): number {
    return this.#byTid.size;
  }

  #remember(tid: number, info: ProcessInfo): void {
    if (this.#byTid.size >= this.#max) {
      const oldest = this.#byTid.keys().next().value;
      if (oldest !== undefined) this.#byTid.delete(oldest);
    }
    this.#byTid.set(tid, info);
  }

  #read(tid: number): ProcessInfo {
    const status = parseProcStatus(tryRead(`${this.#proc}/${tid}/status`) ?? "");
    if (!status) return { pid: tid, name: "?", partial: true };
    const known = this.#byPid.get(status.tgid);
    if (known) return known;
    const dir = `${this.#proc}/${status.tgid}`;
    const info: ProcessInfo = { pid: status.tgid, name: (tryRead(`${dir}/comm`) ?? status.name).replace(/\n$/, ""), ppid: status.ppid };
    if (status.uid >= 0) {
      info.uid = status.uid;
      const user = this.#userName(status.uid);
      if (user) info.user = user;
    }
    const exe = tryReadlink(`${dir}/exe`);
    if (exe) info.exe = exe;
    let cmdline: Buffer | undefined;
    try {
      cmdline = readFileSync(`${dir}/cmdline`);
    } catch {
      cmdline = undefined;
    }
    if (cmdline && cmdline.length > 0) info.cmdline = parseCmdline(cmdline);
    const netns = parseNamespaceLink(tryReadlink(`${dir}/ns/net`) ?? "");
    if (netns !== undefined) info.netns = netns;
    const start = parseProcStatStartTime(tryRead(`${dir}/stat`) ?? "");
    if (start !== undefined) info.startTime = start;
    if (this.#byPid.size >= this.#max) {
      const oldest = this.#byPid.keys().next().value;
      if (oldest !== undefined) this.#byPid.delete(oldest);
    }
    this.#byPid.set(info.pid, info);
    return info;
  }

  #userName(uid: number): string | undefined {
    this.#users ??= parsePasswd(tryRead(this.#passwdPath) ?? "");
    return this.#users.get(uid);
  }
}
