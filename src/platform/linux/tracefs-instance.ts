/**
 * The tracefs instance of one `watch`: where tracefs is (mounted if needed),
 * our own instance under <tracefs>/instances (mkdir, a file held open from
 * mkdir to exit so other watches' cleanup leaves it alone, rmdir at exit),
 * its configuration (buffer size, clock, kernel filters, events), the
 * per-CPU trace_pipe_raw descriptors and their lost-event counters, the
 * health check (is tracing still on?) and the removal at start of stale
 * instances no process holds.
 *
 * Needs: root; tracefs. Other watches: an instance is in use while any file
 * in it is open (the kernel refuses rmdir with EBUSY), so cleanup removes
 * only the halfopen instances rmdir accepts, and never writes into another.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync, writeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { TracefsFormats } from "./tracefs-decode.js";

/** skb:kfree_skb reasons that mean this host dropped a packet it was sending (include/net/dropreason-core.h). */
export const LOCAL_DROP_REASONS = new Set([
  "NETFILTER_DROP",
  "XFRM_POLICY",
  "IP_OUTNOROUTES",
  "BPF_CGROUP_EGRESS",
  "NEIGH_CREATEFAIL",
  "NEIGH_FAILED",
  "NEIGH_QUEUEFULL",
  "NEIGH_DEAD",
  "TC_EGRESS",
  "QDISC_DROP",
  "DEV_READY",
  "FULL_RING",
]);

/** Prefix of our instance names; stale ones (no file open in them) are removed at start. */
export const INSTANCE_PREFIX = "halfopen-";

const CANDIDATE_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

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

/** What start-up cleanup did with other halfopen instances. */
export interface StaleCleanup {
  /** Removed: nothing held them open, so their owner is gone. */
  removed: string[];
  /** Left alone: a file in them is open (EBUSY), so a watch (of any pid namespace) is using them. */
  inUse: string[];
  /** Could not be removed for another reason (the error is given). */
  failed: string[];
}

/**
 * Remove the halfopen instances that no process holds open. The kernel
 * refuses to remove an instance while any of its files is open (EBUSY), and
 * a running watch always holds its own, so this never switches off a live
 * watch, whichever pid namespace it runs in, and it cleans the instance of a
 * watch killed with SIGKILL even when its pid now belongs to another process.
 * Nothing is written into any instance.
 */
export function removeStaleInstances(root: string, own?: string): StaleCleanup {
  const out: StaleCleanup = { removed: [], inUse: [], failed: [] };
  let names: string[];
  try {
    names = readdirSync(`${root}/instances`);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.startsWith(INSTANCE_PREFIX) || name === own) continue;
    try {
      rmdirSync(`${root}/instances/${name}`);
      out.removed.push(name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EBUSY") out.inUse.push(name);
      else if (code !== "ENOENT") out.failed.push(`${name} (${code ?? (e as Error).message})`);
    }
  }
  return out;
}

/** One CPU's ring buffer: its trace_pipe_raw, and its lost-event count when last read. */
export interface CpuBuffer {
  cpu: number;
  fd: number;
  lastLost: number;
  /** Its per_cpu/cpuN/stats, held open: read (pread) every second without an open and a close. */
  statsFd?: number;
}

/** Our instance: created, configured, read, checked, removed. */
export class TracefsInstance {
  readonly dir: string;
  cpus: CpuBuffer[] = [];
  /** Our instance's tracing_on, open from mkdir to close: it keeps the instance busy for other watches' cleanup. */
  #holder?: number;
  /** The main event's enable file, held open for the health check. */
  #enableFd?: number;
  readonly #scratch = Buffer.alloc(4096);

  constructor(root: string, name: string) {
    this.dir = `${root}/instances/${name}`;
  }

  get open(): boolean {
    return this.#holder !== undefined;
  }

  /** mkdir the instance and hold a file in it open at once; retried if another watch's cleanup won the race. */
  create(): void {
    for (let tries = 0; ; tries++) {
      mkdirSync(this.dir);
      try {
        this.#holder = openSync(`${this.dir}/tracing_on`, constants.O_RDWR);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT" || tries >= 3) throw e;
      }
    }
  }

  /** Write one of the instance's files (relative path), truncating it. */
  write(file: string, value: string): void {
    writeFileSync(`${this.dir}/${file}`, value);
  }

  /** Append to one of the instance's files (set_event_pid adds pids this way). */
  append(file: string, value: string): void {
    writeFileSync(`${this.dir}/${file}`, value, { flag: "a" });
  }

  /** tracing_on 1 through the held file. */
  switchOn(): void {
    writeSync(this.#holder as number, "1", 0);
  }

  /** Buffer size, clock, the kernel-side filters and the events; tracing on. Returns caveats. */
  configure(formats: TracefsFormats, bufferKb: number): string[] {
    const caveats: string[] = [];
    const w = (file: string, value: string) => writeFileSync(`${this.dir}/${file}`, value);
    w("buffer_size_kb", String(bufferKb));
    // Wake a poll() on trace_pipe_raw at the first event, not when the buffer is half full.
    if (existsSync(`${this.dir}/buffer_percent`)) w("buffer_percent", "0");
    const clocks = readFileSync(`${this.dir}/trace_clock`, "utf8");
    if (/\bmono\b/.test(clocks)) w("trace_clock", "mono");
    else caveats.push("trace_clock mono is missing: event times are not comparable with process clocks");
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
    // Only the reasons that mean "this host dropped what it was sending": the kernel filters the rest out.
    const drops = [...(formats.kfreeSkb?.symbols ?? new Map<number, string>())].filter(([, name]) => LOCAL_DROP_REASONS.has(name)).map(([n]) => `reason == ${n}`);
    if (formats.kfreeSkb && drops.length > 0) {
      // In process context only (no hard or soft interrupt, no NMI): a connect's SYN is dropped inside the connect().
      w("events/skb/kfree_skb/filter", `(${drops.join(" || ")}) && !(common_flags & 88)`);
      w("events/skb/kfree_skb/enable", "1");
    }
    writeSync(this.#holder as number, "1", 0);
    return caveats;
  }

  /** Open every CPU's trace_pipe_raw (O_NONBLOCK: a read with no data fails with EAGAIN, so one thread polls them all and close never waits). */
  openCpus(): void {
    const cpus = readdirSync(`${this.dir}/per_cpu`)
      .map((d) => /^cpu(\d+)$/.exec(d)?.[1])
      .filter((c): c is string => c !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const cpu of cpus) {
      const fd = openSync(`${this.dir}/per_cpu/cpu${cpu}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK);
      const buffer: CpuBuffer = { cpu, fd, lastLost: 0 };
      try {
        buffer.statsFd = openSync(`${this.dir}/per_cpu/cpu${cpu}/stats`, constants.O_RDONLY);
      } catch {
        // read by name each time
      }
      this.cpus.push(buffer);
      buffer.lastLost = this.readLost(cpu);
    }
  }

  /** overrun + dropped events of one CPU's buffer (from per_cpu/cpuN/stats). */
  readLost(cpu: number): number {
    try {
      const fd = this.cpus.find((c) => c.cpu === cpu)?.statsFd;
      const text = fd === undefined ? readFileSync(`${this.dir}/per_cpu/cpu${cpu}/stats`, "utf8") : this.#pread(fd);
      const overrun = Number(/^overrun:\s*(\d+)/m.exec(text)?.[1] ?? 0);
      const dropped = Number(/^dropped events:\s*(\d+)/m.exec(text)?.[1] ?? 0);
      return overrun + dropped;
    } catch {
      return 0;
    }
  }

  /** Events lost since the last look, per CPU (counters advanced). */
  newlyLost(): { cpu: number; count: number }[] {
    const out: { cpu: number; count: number }[] = [];
    for (const c of this.cpus) {
      const now = this.readLost(c.cpu);
      if (now > c.lastLost) {
        out.push({ cpu: c.cpu, count: now - c.lastLost });
        c.lastLost = now;
      }
    }
    return out;
  }

  /** Why tracing is off (tracing_on 0, the main event disabled, the instance unreadable), or undefined while it is on. */
  whyOff(): string | undefined {
    if (this.#holder === undefined) return undefined;
    try {
      if (this.#tracingOn() !== "1") return "tracing_on was set to 0";
      this.#enableFd ??= openSync(`${this.dir}/events/sock/inet_sock_set_state/enable`, constants.O_RDONLY);
      if (this.#pread(this.#enableFd).trim() !== "1") return "the sock:inet_sock_set_state event was disabled";
      return undefined;
    } catch (e) {
      return `the instance cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
  }

  /** Switch tracing and the main event back on; true when tracing_on reads 1 again. */
  repair(): boolean {
    try {
      writeFileSync(`${this.dir}/events/sock/inet_sock_set_state/enable`, "1");
      writeSync(this.#holder as number, "1", 0);
    } catch {
      // still off; the caller says so and tries again
    }
    try {
      return this.#tracingOn() === "1";
    } catch {
      return false;
    }
  }

  /** A held file's text, read from its start (the kernel makes it again for each read). */
  #pread(fd: number): string {
    return this.#scratch.toString("latin1", 0, readSync(fd, this.#scratch, 0, this.#scratch.length, 0));
  }

  #tracingOn(): string {
    const buf = Buffer.alloc(8);
    return buf.toString("utf8", 0, readSync(this.#holder as number, buf, 0, 8, 0)).trim();
  }

  /** Tracing off, every descriptor closed, the instance removed (or left for the next start's cleanup). Safe to call twice. */
  close(): void {
    if (this.#holder !== undefined) {
      try {
        writeSync(this.#holder, "0", 0);
      } catch {
        // gone with the instance
      }
    }
    const held = [...this.cpus.flatMap((c) => (c.statsFd === undefined ? [c.fd] : [c.fd, c.statsFd])), ...(this.#enableFd === undefined ? [] : [this.#enableFd]), ...(this.#holder === undefined ? [] : [this.#holder])];
    this.#enableFd = undefined;
    for (const fd of held) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.cpus = [];
    this.#holder = undefined;
    if (existsSync(this.dir)) {
      try {
        rmdirSync(this.dir);
      } catch {
        // left for the next start's stale-instance cleanup
      }
    }
  }
}
