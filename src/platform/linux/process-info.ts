/**
 * ProcessInfoCache: what we know of each process, read from /proc once, when
 * its first connect attempt is seen, and kept because the process may be gone
 * by the time an incident is reported. Keyed by thread id (the tracepoint
 * reports the connecting thread) and shared per thread group.
 *
 * Needs: Linux /proc (root to read other users' exe and ns links).
 * Caveat: a process that exits within a few microseconds of its connect() is
 * recorded with `partial: true`; its name arrives with its exit event. A
 * process being reaped (release_task) shows `Tgid: 0` in its status: that is
 * "gone", never pid 0, so the pid of the event is kept. The command line is
 * read only up to MAX_PROCESS_TEXT_BYTES (marked `truncated`). When /proc
 * cannot be read for lack of file descriptors (EMFILE, ENFILE) a warning says
 * so, since the details of processes seen then are missing.
 */
import { closeSync, openSync, readFileSync, readSync, readlinkSync } from "node:fs";
import type { ProcessInfo } from "../../core/events.js";
import { MAX_PROCESS_TEXT_BYTES } from "../../core/process-text.js";
import { RecentMap } from "../../core/recent-map.js";
import { attributeCgroup } from "./cgroup-parse.js";
import { NetnsNames } from "./netns-names.js";
import { parseCmdline, parseNamespaceLink, parsePasswd, parseProcStatStartTime, parseProcStatus } from "./procfs-parse.js";

export interface ProcessInfoCacheOptions {
  procRoot?: string;
  passwdPath?: string;
  /** Where named network namespaces are bound. Default /run/netns. */
  netnsDir?: string;
  /** Cache bound; the oldest entries are dropped past it. Default 65536. */
  maxEntries?: number;
}

/** Errors that mean "this process has run out of descriptors", not "the process is gone". */
const FD_EXHAUSTED = new Set(["EMFILE", "ENFILE"]);

/** Called with the errno code of a failed read that was not the process being gone. */
type OnReadError = (code: string) => void;

function noteError(e: unknown, onError?: OnReadError): void {
  const code = (e as NodeJS.ErrnoException).code;
  if (onError && code && FD_EXHAUSTED.has(code)) onError(code);
}

/** A file's text, or undefined when it is gone or not ours to read. */
export function tryRead(path: string, onError?: OnReadError): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    noteError(e, onError);
    return undefined;
  }
}

/** The target of a link, or undefined when it is gone or not ours to read. */
export function tryReadlink(path: string, onError?: OnReadError): string | undefined {
  try {
    return readlinkSync(path);
  } catch (e) {
    noteError(e, onError);
    return undefined;
  }
}

/** At most `max` bytes of a file, and whether it had more; undefined when it cannot be read. */
export function readHead(path: string, max: number, onError?: OnReadError): { data: Buffer; more: boolean } | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got <= 0) break;
      n += got;
    }
    return { data: buf.subarray(0, Math.min(n, max)), more: n > max };
  } catch (e) {
    noteError(e, onError);
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class ProcessInfoCache {
  readonly #proc: string;
  readonly #passwdPath: string;
  readonly #max: number;
  readonly #netnsNames: NetnsNames;
  /** By thread; a flood asks for the same thread at every record, and the last one found answers without a lookup. */
  readonly #byTid = new RecentMap<number, ProcessInfo>();
  readonly #byPid = new Map<number, ProcessInfo>();
  #users?: Map<number, string>;
  /** Reads that failed for lack of descriptors since the last warning. */
  #fdFailures = 0;
  #fdCode = "";
  #lastWarning = Number.NEGATIVE_INFINITY;
  readonly #onError: OnReadError = (code) => {
    this.#fdFailures++;
    this.#fdCode = code;
  };

  constructor(options: ProcessInfoCacheOptions = {}) {
    this.#proc = options.procRoot ?? "/proc";
    this.#passwdPath = options.passwdPath ?? "/etc/passwd";
    this.#max = options.maxEntries ?? 65_536;
    this.#netnsNames = new NetnsNames(options.netnsDir ? { dir: options.netnsDir } : {});
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
    // The info object is shared with the attempts already recorded, so they get the name too.
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

  /** The kernel's comm from an exit record names a process that was gone before /proc could be read. */
  nameFromExit(tid: number, comm: string): void {
    const info = this.#byTid.get(tid);
    if (info?.partial && (info.name === "" || info.name === "?")) info.name = comm;
  }

  /** True while the process of `tid` is known only as gone, without a name. */
  awaitsName(tid: number): boolean {
    const info = this.#byTid.get(tid);
    return info !== undefined && info.partial === true && (info.name === "" || info.name === "?");
  }

  /** Pids of the processes read so far. */
  knownPids(): number[] {
    return [...this.#byPid.keys()];
  }

  get size(): number {
    return this.#byTid.size;
  }

  /**
   * A note, when /proc reads failed for lack of file descriptors since the
   * last note, at most one each 10 s; the owner adds it to its NoteLog.
   */
  fdFailureNote(now = Date.now()): string | undefined {
    if (this.#fdFailures === 0 || now - this.#lastWarning < 10_000) return undefined;
    this.#lastWarning = now;
    const w = `${this.#fdFailures} read${this.#fdFailures === 1 ? "" : "s"} of /proc failed with ${this.#fdCode} (out of file descriptors): processes seen meanwhile lack exe, command line or user, and --kill refuses them`;
    this.#fdFailures = 0;
    return w;
  }

  #remember(tid: number, info: ProcessInfo): void {
    if (this.#byTid.size >= this.#max) {
      const oldest = this.#byTid.keys().next().value;
      if (oldest !== undefined) this.#byTid.delete(oldest);
    }
    this.#byTid.set(tid, info);
  }

  #read(tid: number): ProcessInfo {
    const status = parseProcStatus(tryRead(`${this.#proc}/${tid}/status`, this.#onError) ?? "");
    // Tgid 0: the task is being reaped (release_task); it is gone, and it is not pid 0.
    if (!status || status.tgid <= 0) return { pid: tid, name: "?", partial: true };
    const known = this.#byPid.get(status.tgid);
    if (known) return known;
    const dir = `${this.#proc}/${status.tgid}`;
    const info: ProcessInfo = { pid: status.tgid, name: (tryRead(`${dir}/comm`, this.#onError) ?? status.name).replace(/\n$/, ""), ppid: status.ppid };
    if (status.uid >= 0) {
      info.uid = status.uid;
      const user = this.#userName(status.uid);
      if (user) info.user = user;
    }
    const exe = tryReadlink(`${dir}/exe`, this.#onError);
    if (exe) info.exe = exe;
    const cmdline = readHead(`${dir}/cmdline`, MAX_PROCESS_TEXT_BYTES, this.#onError);
    if (cmdline && cmdline.data.length > 0) {
      info.cmdline = parseCmdline(cmdline.data);
      if (cmdline.more) info.truncated = ["cmdline"];
    }
    const netns = parseNamespaceLink(tryReadlink(`${dir}/ns/net`, this.#onError) ?? "");
    if (netns !== undefined) {
      info.netns = netns;
      const name = this.#netnsNames.nameOf(netns);
      if (name !== undefined) info.netnsName = name;
    }
    // The unit, container and pod: one more small read per new process.
    const cgroup = tryRead(`${dir}/cgroup`, this.#onError);
    if (cgroup) {
      const { truncated, ...where } = attributeCgroup(cgroup);
      Object.assign(info, where);
      if (truncated) info.truncated = [...(info.truncated ?? []), "cgroup"];
    }
    const start = parseProcStatStartTime(tryRead(`${dir}/stat`, this.#onError) ?? "");
    if (start !== undefined) info.startTime = start;
    // A status read while the process was alive, but the rest after it exited: keep what we have, marked partial.
    if (start === undefined && exe === undefined && cmdline === undefined) info.partial = true;
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
