/**
 * TracefsSource: every outbound TCP connect attempt on the host, live and
 * exact, from the tracepoint sock:inet_sock_set_state, read as binary
 * ring-buffer pages from a tracefs instance of our own.
 *
 * Mechanism: mkdir <tracefs>/instances/halfopen-<pid>; the kernel filters
 * `protocol == 6 && (newstate == 2 || oldstate == 2)` (moves into and out of
 * SYN_SENT only); tcp_receive_reset, tcp_retransmit_skb and sched exit/exec
 * are enabled when present. Each CPU's trace_pipe_raw is polled without
 * blocking; pages are decoded with the kernel's own format offsets and merged
 * in timestamp order up to a watermark taken before the read, so an attempt's
 * end (often on another CPU, in softirq) never overtakes its start.
 * Attempts are keyed by skaddr; the pid is the one running at CLOSE->SYN_SENT
 * (the connecting thread), as bcc's tcplife does.
 *
 * Needs: root, Linux 4.16+ (tcp_receive_reset 4.17+ to tell refused from
 * timed out), tracefs (mounted here if it is not).
 * Caveats: if the ring buffer overflows, the lost count is read from the
 * per-CPU stats and reported; attempts whose end was lost end as "unknown".
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import type { ConnectionEvent } from "../../core/events.js";
import { TcpState } from "../../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { ConnectionSource, SourceStats } from "../types.js";
import { ProcessInfoCache } from "./process-info.js";
import { decodePage } from "./ring-buffer.js";
import { type TracefsFormats, type TracefsRecord, makeRecordDecoder } from "./tracefs-decode.js";
import { type EventFormat, type PageLayout, parseEventFormat, parseHeaderPage } from "./tracefs-format.js";

/** Prefix of our instance names; stale ones (owner gone) are removed at start. */
export const INSTANCE_PREFIX = "halfopen-";

export interface TracefsSourceOptions {
  /** tracefs mount point; default: found, or mounted at /sys/kernel/tracing. */
  tracefsRoot?: string;
  /** Ring buffer per CPU, in KiB. Default 8192. */
  bufferKb?: number;
  /** How often the per-CPU buffers are read. Default 10 ms. */
  pollMs?: number;
  /** Events are released this long after their timestamp at the earliest, to merge CPUs in order. Default 1 ms. */
  reorderMs?: number;
  procRoot?: string;
}

const CANDIDATE_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const MAX_PAGES_PER_CPU_PER_POLL = 1024;

/** Where tracefs is mounted, or undefined. Does not mount. */
export function findTracefs(): string | undefined {
  return CANDIDATE_ROOTS.find((r) => existsSync(`${r}/instances`) && existsSync(`${r}/events`));
}

/** Find tracefs, mounting it at /sys/kernel/tracing if needed (root only). */
export function ensureTracefs(): string {
  const found = findTracefs();
  if (found) return found;
  const target = CANDIDATE_ROOTS[0] as string;
  try {
    mkdirSync(target, { recursive: true });
  } catch {
    // sysfs normally has it; mount says what is wrong if not
  }
  const r = spawnSync("mount", ["-t", "tracefs", "nodev", target], { encoding: "utf8" });
  if (r.status === 0 && findTracefs()) return target;
  throw new HalfOpenError(
    ErrorCodes.TRACEFS_UNAVAILABLE,
    `Cannot mount tracefs at "${target}": ${(r.stderr || r.error?.message || "mount failed").trim()}; the kernel needs CONFIG_TRACING`,
  );
}

function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Remove instances named halfopen-<pid> whose owner is gone. Returns the names
 * removed and those that could not be (still held open by a leftover reader).
 */
export function removeStaleInstances(root: string): { removed: string[]; failed: string[] } {
  const removed: string[] = [];
  const failed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(`${root}/instances`);
  } catch {
    return { removed, failed };
  }
  for (const name of names) {
    const m = /^halfopen-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    try {
      writeFileSync(`${root}/instances/${name}/tracing_on`, "0");
      rmdirSync(`${root}/instances/${name}`);
      removed.push(name);
    } catch {
      failed.push(name);
    }
  }
  return { removed, failed };
}

export class TracefsSource implements ConnectionSource {
  readonly name = "tracefs";
  readonly caveats: string[] = [];
  readonly instance = `${INSTANCE_PREFIX}${process.pid}`;
  readonly #options: TracefsSourceOptions;
  #root = "";
  #dir = "";
  #layout?: PageLayout;
  #decode?: (buf: Buffer, off: number, ts: number) => TracefsRecord | undefined;
  #fds: { cpu: number; fd: number; lastLost: number }[] = [];
  #cache: ProcessInfoCache;
  #staged: TracefsRecord[] = [];
  #timer?: NodeJS.Timeout;
  #statsTimer?: NodeJS.Timeout;
  #queue: ConnectionEvent[][] = [];
  #wake?: () => void;
  #stopped = false;
  #lost = 0;
  #records = 0;
  #pageSize = 4096;
  #page: Buffer = Buffer.alloc(4096);
  /** Events lost (counted) but not yet emitted as LostEvents. */
  #lostPending: { cpu: number; count: number }[] = [];

  constructor(options: TracefsSourceOptions = {}) {
    this.#options = options;
    this.#cache = new ProcessInfoCache(options.procRoot ? { procRoot: options.procRoot } : {});
  }

  now(): number {
    return monotonicNs() / 1e6;
  }

  stats(): SourceStats {
    return { lostEvents: this.#lost, records: this.#records };
  }

  /** Set up the instance. Throws HalfOpenError (NEEDS_PRIVILEGES, TRACEFS_UNAVAILABLE, TRACEPOINT_MISSING, TRACEFS_FAILED). */
  async start(): Promise<void> {
    if (typeof process.geteuid === "function" && process.geteuid() !== 0) {
      throw new HalfOpenError(
        ErrorCodes.NEEDS_PRIVILEGES,
        `Cannot open tracefs as uid ${process.geteuid()}: the tracefs source needs root (run with sudo)`,
      );
    }
    this.#root = this.#options.tracefsRoot ?? ensureTracefs();
    const formats = this.#readFormats();
    this.#layout = parseHeaderPage(readFileSync(`${this.#root}/events/header_page`, "utf8"));
    this.#pageSize = this.#layout.dataOffset + this.#layout.dataSize;
    this.#page = Buffer.alloc(this.#pageSize);
    this.#decode = makeRecordDecoder(formats);
    const stale = removeStaleInstances(this.#root);
    if (stale.failed.length > 0) this.caveats.push(`could not remove stale tracefs instances: ${stale.failed.join(", ")}`);
    if (!formats.receiveReset) this.caveats.push("tcp:tcp_receive_reset is missing (Linux < 4.17): refused attempts are reported as timeout");
    this.#dir = `${this.#root}/instances/${this.instance}`;
    try {
      mkdirSync(this.#dir);
      this.#configure(formats);
      this.#openCpus();
    } catch (e) {
      this.stop();
      if (e instanceof HalfOpenError) throw e;
      throw new HalfOpenError(ErrorCodes.TRACEFS_FAILED, `Cannot set up tracefs instance "${this.#dir}": ${(e as Error).message}`, { cause: e });
    }
    const pollMs = this.#options.pollMs ?? 10;
    this.#timer = setInterval(() => this.#poll(), pollMs);
    this.#statsTimer = setInterval(() => this.#checkLost(), 1000);
  }

  async *events(): AsyncIterable<ConnectionEvent[]> {
    while (!this.#stopped || this.#queue.length > 0) {
      const batch = this.#queue.shift();
      if (batch) {
        yield batch;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  stop(): void {
    if (this.#stopped) return;
    // Drain what the kernel already holds, without waiting for the watermark.
    try {
      this.#poll(Number.POSITIVE_INFINITY);
    } catch {
      // a read error at shutdown loses only the tail
    }
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#statsTimer);
    if (this.#dir) {
      try {
        writeFileSync(`${this.#dir}/tracing_on`, "0");
      } catch {
        // the instance may not exist yet
      }
    }
    for (const { fd } of this.#fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.#fds = [];
    if (this.#dir && existsSync(this.#dir)) {
      try {
        rmdirSync(this.#dir);
      } catch {
        // left for the next start's stale-instance cleanup
      }
    }
    this.#wake?.();
  }

  #readFormats(): TracefsFormats {
    const read = (path: string): EventFormat | undefined => {
      try {
        return parseEventFormat(readFileSync(`${this.#root}/events/${path}/format`, "utf8"));
      } catch {
        return undefined;
      }
    };
    const setState = read("sock/inet_sock_set_state");
    if (!setState) {
      throw new HalfOpenError(
        ErrorCodes.TRACEPOINT_MISSING,
        `Cannot find tracepoint "sock/inet_sock_set_state" under "${this.#root}/events": it needs Linux 4.16 or newer`,
      );
    }
    const formats: TracefsFormats = { setState };
    const optional: [keyof TracefsFormats, string][] = [
      ["receiveReset", "tcp/tcp_receive_reset"],
      ["retransmit", "tcp/tcp_retransmit_skb"],
      ["processExit", "sched/sched_process_exit"],
      ["processExec", "sched/sched_process_exec"],
    ];
    for (const [key, path] of optional) {
      const f = read(path);
      if (f) formats[key] = f;
    }
    return formats;
  }

  #configure(formats: TracefsFormats): void {
    const w = (file: string, value: string) => writeFileSync(`${this.#dir}/${file}`, value);
    w("buffer_size_kb", String(this.#options.bufferKb ?? 8192));
    const clocks = readFileSync(`${this.#dir}/trace_clock`, "utf8");
    if (/\bmono\b/.test(clocks)) w("trace_clock", "mono");
    else this.caveats.push("trace_clock mono is missing: event times are not comparable with process clocks");
    const stateFilter = formats.setState.fields.has("protocol") ? "protocol == 6 && (newstate == 2 || oldstate == 2)" : "newstate == 2 || oldstate == 2";
    w("events/sock/inet_sock_set_state/filter", stateFilter);
    w("events/sock/inet_sock_set_state/enable", "1");
    if (formats.receiveReset) w("events/tcp/tcp_receive_reset/enable", "1");
    if (formats.retransmit) {
      w("events/tcp/tcp_retransmit_skb/filter", "state == 2");
      w("events/tcp/tcp_retransmit_skb/enable", "1");
    }
    if (formats.processExit) w("events/sched/sched_process_exit/enable", "1");
    if (formats.processExec) w("events/sched/sched_process_exec/enable", "1");
    w("tracing_on", "1");
  }

  #openCpus(): void {
    const cpus = readdirSync(`${this.#dir}/per_cpu`)
      .map((d) => /^cpu(\d+)$/.exec(d)?.[1])
      .filter((c): c is string => c !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const cpu of cpus) {
      // O_NONBLOCK: a read with no data fails with EAGAIN instead of waiting,
      // so one thread polls every CPU and stop() never waits on a read.
      const fd = openSync(`${this.#dir}/per_cpu/cpu${cpu}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK);
      this.#fds.push({ cpu, fd, lastLost: this.#readLost(cpu) });
    }
  }

  /** overrun + dropped events of one CPU's buffer (from per_cpu/cpuN/stats). */
  #readLost(cpu: number): number {
    try {
      const text = readFileSync(`${this.#dir}/per_cpu/cpu${cpu}/stats`, "utf8");
      const overrun = Number(/^overrun:\s*(\d+)/m.exec(text)?.[1] ?? 0);
      const dropped = Number(/^dropped events:\s*(\d+)/m.exec(text)?.[1] ?? 0);
      return overrun + dropped;
    } catch {
      return 0;
    }
  }

  #checkLost(): void {
    for (const c of this.#fds) {
      const now = this.#readLost(c.cpu);
      if (now > c.lastLost) {
        this.#lostPending.push({ cpu: c.cpu, count: now - c.lastLost });
        this.#lost += now - c.lastLost;
        c.lastLost = now;
      }
    }
  }

  /** Read every CPU's pages; release events older than `watermark` (ns) in time order. */
  #poll(watermark = monotonicNs() - (this.#options.reorderMs ?? 1) * 1e6): void {
    if (this.#stopped || !this.#layout || !this.#decode) return;
    let sawLostFlag = false;
    for (const { fd } of this.#fds) {
      for (let i = 0; i < MAX_PAGES_PER_CPU_PER_POLL; i++) {
        let n: number;
        try {
          n = readSync(fd, this.#page, 0, this.#pageSize, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
          throw e;
        }
        if (n <= 0) break;
        const { records, lost } = decodePage(this.#page.subarray(0, n), this.#layout);
        if (lost !== 0) sawLostFlag = true;
        for (const r of records) {
          const rec = this.#decode(this.#page, r.offset, r.timestampNs);
          if (!rec) continue;
          // Read /proc now, while a short-lived process is most likely still there.
          if (rec.kind === "state" && rec.newState === TcpState.SYN_SENT) this.#cache.resolve(rec.tid);
          this.#staged.push(rec);
        }
      }
    }
    if (sawLostFlag) this.#checkLost();
    this.#release(watermark);
  }

  #release(watermark: number): void {
    const out: ConnectionEvent[] = [];
    for (const l of this.#lostPending) out.push({ type: "lost", time: this.now(), count: l.count, cpu: l.cpu });
    this.#lostPending = [];
    if (this.#staged.length > 0) {
      this.#staged.sort((a, b) => a.timestampNs - b.timestampNs);
      let cut = 0;
      while (cut < this.#staged.length && (this.#staged[cut] as TracefsRecord).timestampNs <= watermark) cut++;
      const ready = this.#staged.slice(0, cut);
      this.#staged = this.#staged.slice(cut);
      this.#records += ready.length;
      for (const rec of ready) {
        const ev = this.#toEvent(rec);
        if (ev) out.push(ev);
      }
    }
    if (out.length > 0) {
      this.#queue.push(out);
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    }
  }

  #toEvent(rec: TracefsRecord): ConnectionEvent | undefined {
    const time = rec.timestampNs / 1e6;
    switch (rec.kind) {
      case "state":
        if (rec.newState === TcpState.SYN_SENT) {
          const process = this.#cache.resolve(rec.tid);
          return {
            type: "connect",
            time,
            sock: rec.sock,
            pid: process.pid,
            tid: rec.tid,
            family: rec.family,
            src: { address: rec.saddr, port: rec.sport },
            dst: { address: rec.daddr, port: rec.dport },
            process,
          };
        }
        if (rec.oldState === TcpState.SYN_SENT) {
          return { type: "leave", time, sock: rec.sock, newState: rec.newState, srcPort: rec.sport, inInterrupt: rec.inInterrupt };
        }
        return undefined;
      case "reset":
        return { type: "reset", time, sock: rec.sock };
      case "retransmit":
        return rec.state === TcpState.SYN_SENT ? { type: "retransmit", time, sock: rec.sock } : undefined;
      case "exit": {
        // The process is gone when its leader thread (tid == pid) exits, or when
        // the last thread does (group_dead); that may be a thread we never saw.
        const known = this.#cache.knownProcess(rec.tid);
        const info = this.#cache.threadExited(rec.tid, rec.name);
        if (known === undefined && !(rec.groupDead && !info.partial)) return undefined;
        this.#cache.processExited(info.pid);
        return { type: "exit", time, pid: info.pid, name: info.name };
      }
      case "exec":
        this.#cache.execed(rec.pid, rec.oldPid);
        return undefined;
    }
  }
}
