/**
 * RawSenderTracer: the processes that send TCP SYNs without connect(),
 * through raw IP sockets (nmap -sS, hping3, Mirai-style scanners) or packet
 * sockets (masscan, zmap, nmap --send-eth), for the tracefs source.
 *
 * Mechanism (no eBPF, no kernel module; every feature detected):
 *   1. Who holds such a socket: tracepoint syscalls:sys_enter_socket in an
 *      instance of its own, kernel-filtered to packet sockets and to raw
 *      IPv4/IPv6 sockets other than ICMP, so it fires only for those; and at
 *      start, the raw and packet sockets already open (the procfs reader's
 *      rawSenders, as `ls` lists them).
 *   2. Who sent: tracepoint sock:sock_send_length (Linux 6.3+; else the
 *      syscalls:sys_exit_{sendto,sendmsg,sendmmsg,write} events) in a second
 *      instance whose set_event_pid holds only those processes' threads
 *      (options/event-fork adds the threads they start). Enabled only while
 *      such a process exists: with none, nothing but the socket() filter runs.
 *   3. What was sent: in each network namespace where such a process lives,
 *      AF_PACKET capture sockets (one per CPU in a PACKET_FANOUT_CPU group)
 *      whose classic BPF filter keeps outgoing SYNs without ACK and
 *      incoming SYN-ACKs and RSTs (native helper: captureOpen).
 *   4. RawJoin (raw-join.ts, pure) joins them by CPU and time.
 * Events come out through `emit` as ConnectionEvents with `via`.
 *
 * Caveats (docs/watch.md): packets sent before the capture of a new
 * namespace opens (about a millisecond after the socket() call) are not
 * seen; PACKET_QDISC_BYPASS senders skip the capture tap; a packet queued
 * by a qdisc and sent later from another CPU is joined by the
 * single-holder rule only in the first moments, else counted unattributed.
 */
import { closeSync, existsSync, readFileSync, readSync, readdirSync } from "node:fs";
import type { ConnectionEvent } from "../../core/events.js";
import type { NoteLog } from "../../core/note-log.js";
import type { NativeHelper } from "./native.js";
import { type ProcessInfoCache, tryReadlink } from "./process-info.js";
import { parseNamespaceLink } from "./procfs-parse.js";
import { parseCapture } from "./raw-capture.js";
import { RawJoin, type RawHolder, type RawVia } from "./raw-join.js";
import { decodePage } from "./ring-buffer.js";
import { type EventField, type EventFormat, type PageLayout, parseEventFormat } from "./tracefs-format.js";
import { TracefsInstance } from "./tracefs-instance.js";

/** A raw or packet socket holder read from /proc at start. */
export interface InitialHolder {
  pid: number;
  netns: number;
  via: RawVia;
}

export interface RawTracerOptions {
  root: string;
  /** Instance name prefix (ours): "-sockets" and "-sends" are appended. */
  instance: string;
  layout: PageLayout;
  native: NativeHelper;
  cache: ProcessInfoCache;
  procRoot: string;
  notes: NoteLog;
  emit: (events: ConnectionEvent[]) => void;
  now: () => number;
  answerMs?: number;
  /**
   * The kernel connects the caller knows of that are in progress (`leftNs` undefined) or left SYN_SENT within the
   * last second (`leftNs`): told to the join when the first capture opens. While no capture is open, the caller
   * need not call kernelConnect and kernelLeave (`capturing`): nothing reads them, and every attempt on the host
   * would pay for them.
   */
  kernelConnects?: (visit: (netns: number | undefined, daddr: string, dport: number, leftNs?: number) => void) => void;
  /**
   * The time (ns) up to which the caller has told every kernel connect it read: packets tapped after it wait, so a
   * kernel SYN is never taken for a raw one because the main buffers were read late (the caller reads them every
   * 20 ms while an incident is open, and a loaded host's timers slip). Infinity when the caller is not behind.
   */
  kernelReadNs?: () => number;
}

const AF_PACKET = 17;
/** sys_enter_socket: packet sockets, and raw IPv4/IPv6 sockets (SOCK_RAW with or without SOCK_NONBLOCK and SOCK_CLOEXEC) but ICMP and ICMPv6 ones. */
const SOCKET_FILTER = "family == 17 || ((family == 2 || family == 10) && (type == 3 || type == 2051 || type == 524291 || type == 526339) && protocol != 1 && protocol != 58)";
const SEND_SYSCALLS = ["sendto", "sendmsg", "sendmmsg", "write"];
/**
 * Packets are joined this long after they were tapped: every send event (read at most every few ms) is in by then;
 * and no sooner than the main buffers were read past them (kernelReadNs).
 */
const REORDER_MS = 30;

interface Capture {
  netns: number;
  fds: Int32Array;
  waker?: { rearm(): void; stop(): void };
  /** When the last holder in it went (ms), to close it after replies had time to come. */
  emptySince?: number;
}

/** Read what a tracefs instance holds; decode with `decode`. */
function drain(inst: TracefsInstance, layout: PageLayout, page: Buffer, each: (cpu: number, buf: Buffer, off: number, ts: number) => void): void {
  for (const { cpu, fd } of inst.cpus) {
    for (let i = 0; i < 1024; i++) {
      let n: number;
      try {
        n = readSync(fd, page, 0, page.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
        throw e;
      }
      if (n <= 0) break;
      for (const r of decodePage(page.subarray(0, n), layout).records) each(cpu, page, r.offset, r.timestampNs);
    }
  }
}

export class RawSenderTracer {
  /** "visible via ..." or "not visible: ...", said at start. */
  readonly visibility: string;
  readonly #o: RawTracerOptions;
  readonly #join: RawJoin;
  #sockets?: TracefsInstance;
  #sends?: TracefsInstance;
  #sendEvents: string[] = [];
  #socketFormat?: EventFormat;
  #sendIds = new Set<number>();
  #commonType?: EventField;
  #commonPid?: EventField;
  readonly #page: Buffer;
  readonly #captures = new Map<number, Capture>();
  #cpuCount = 1;
  #wakers: { rearm(): void; stop(): void }[] = [];
  #timer?: NodeJS.Timeout;
  #sendsOn = false;
  /** New holders' untraced spell (ns): from their socket() call until their threads' sends are traced (`until`), for the single-holder rule. */
  readonly #untraced = new Map<number, { since: number; until?: number }>();
  readonly #tracedPids = new Set<number>();
  /** Our own threads: exempt. */
  readonly #self = new Set<number>();
  #drops = 0;
  #dropsReadAt = 0;
  #stampHolder?: number;
  #unattributed = 0;
  #stopped = false;

  /** Can raw senders be traced here? Returns why not, or undefined. */
  static unavailable(root: string, native: NativeHelper | undefined): string | undefined {
    if (!native || typeof native.captureOpen !== "function") return "needs the native helper (packet capture)";
    if (!existsSync(`${root}/events/syscalls/sys_enter_socket/format`)) return "needs the syscalls tracepoints (CONFIG_FTRACE_SYSCALLS)";
    if (!existsSync(`${root}/events/sock/sock_send_length/format`) && !SEND_SYSCALLS.every((s) => existsSync(`${root}/events/syscalls/sys_exit_${s}/format`))) return "needs sock:sock_send_length (Linux 6.3+) or the syscalls exit events";
    if (!existsSync(`${root}/set_event_pid`)) return "needs set_event_pid in tracefs (Linux 4.4+)";
    return undefined;
  }

  constructor(options: RawTracerOptions) {
    this.#o = options;
    this.#join = new RawJoin(options.answerMs === undefined ? {} : { answerMs: options.answerMs });
    this.#page = Buffer.alloc(options.layout.dataOffset + options.layout.dataSize);
    // HALFOPEN_RAW_SEND_EVENT=syscalls takes the older kernels' path here too (tests).
    const viaLength = process.env.HALFOPEN_RAW_SEND_EVENT !== "syscalls" && existsSync(`${options.root}/events/sock/sock_send_length/format`);
    this.#sendEvents = viaLength ? ["sock/sock_send_length"] : SEND_SYSCALLS.map((s) => `syscalls/sys_exit_${s}`);
    this.visibility = `visible via syscalls:sys_enter_socket, ${viaLength ? "sock:sock_send_length" : "syscalls:sys_exit_send*/write"} (threads of raw and packet socket holders only) and a per-CPU packet capture in their network namespaces`;
  }

  get details(): Record<string, number> {
    return { rawHolders: this.#join.holders, rawCaptures: this.#captures.size, rawPending: this.#join.pending, rawCaptureDrops: this.#drops, rawUnattributed: this.#unattributed };
  }

  /** Set up both instances; then `addInitial` the holders already there. */
  start(): void {
    const { root } = this.#o;
    try {
      for (const t of readdirSync(`${this.#o.procRoot}/self/task`)) this.#self.add(Number(t));
    } catch {
      // /proc unreadable: found by pid below
    }
    const read = (path: string) => parseEventFormat(readFileSync(`${root}/events/${path}/format`, "utf8"));
    this.#socketFormat = read("syscalls/sys_enter_socket");
    this.#commonType = this.#socketFormat.fields.get("common_type");
    this.#commonPid = this.#socketFormat.fields.get("common_pid");
    for (const e of this.#sendEvents) this.#sendIds.add(read(e).id);
    // The sends' events are switched on per holder (#trace), once its threads are in set_event_pid.
    const sends = this.#instance("sends", 4096, (i) => {
      i.write("options/event-fork", "1");
      for (const e of this.#sendEvents) if (e.startsWith("sock/")) i.write(`events/${e}/filter`, "family == 17 || family == 2 || family == 10");
    });
    this.#sends = sends;
    const sockets = this.#instance("sockets", 64, (i) => {
      i.write("events/syscalls/sys_enter_socket/filter", SOCKET_FILTER);
      i.write("events/syscalls/sys_enter_socket/enable", "1");
    });
    this.#sockets = sockets;
    this.#cpuCount = Math.max(1, ...sends.cpus.map((c) => c.cpu + 1));
    try {
      this.#stampHolder = this.#o.native.holdTimestamps();
    } catch {
      // each capture switches stamping on itself, a millisecond slower
    }
    for (const inst of [sockets, sends]) {
      this.#wakers.push(this.#o.native.watchReadable(Int32Array.from(inst.cpus.map((c) => c.fd)), () => this.#wakeRead(inst)));
    }
  }

  /** One of our two instances, `<main>-<suffix>`: created, its clock and wake-up set, `configure`d, on, its per-CPU buffers open. */
  #instance(suffix: string, bufferKb: number, configure: (i: TracefsInstance) => void): TracefsInstance {
    const i = new TracefsInstance(this.#o.root, `${this.#o.instance}-${suffix}`);
    i.create();
    i.write("buffer_size_kb", String(bufferKb));
    i.write("trace_clock", "mono");
    if (existsSync(`${i.dir}/buffer_percent`)) i.write("buffer_percent", "0");
    configure(i);
    i.switchOn();
    i.openCpus();
    return i;
  }

  /** The holders read from /proc after start (so none falls between the read and the socket() tracing). */
  addInitial(initial: InitialHolder[]): void {
    const nowNs = this.#o.now() * 1e6;
    for (const h of initial) this.#addHolder(h.pid, h.via, nowNs, h.netns);
  }

  #wakeRead(inst: TracefsInstance): void {
    if (this.#stopped) return;
    try {
      if (inst === this.#sockets) this.#readSockets();
      else this.#readSends();
    } catch (e) {
      this.#o.notes.add(`raw senders: cannot read tracefs (${(e as Error).message})`);
    }
    this.#wakers[inst === this.#sockets ? 0 : 1]?.rearm();
  }

  #readSockets(): void {
    const f = this.#socketFormat;
    if (!this.#sockets || !f || !this.#commonPid) return;
    const family = f.fields.get("family") as EventField;
    const pidField = this.#commonPid;
    const seen: { tid: number; via: RawVia; ts: number }[] = [];
    drain(this.#sockets, this.#o.layout, this.#page, (_cpu, buf, off, ts) => {
      const fam = Number(buf.readBigUInt64LE(off + family.offset) & 0xffffffffn);
      seen.push({ tid: buf.readInt32LE(off + pidField.offset), via: fam === AF_PACKET ? "packet" : "raw", ts });
    });
    for (const s of seen) this.#addHolder(s.tid, s.via, s.ts);
  }

  #readSends(): void {
    if (!this.#sends || !this.#commonType || !this.#commonPid) return;
    const type = this.#commonType;
    const pidField = this.#commonPid;
    drain(this.#sends, this.#o.layout, this.#page, (cpu, buf, off, ts) => {
      if (!this.#sendIds.has(buf.readUInt16LE(off + type.offset))) return;
      const tid = buf.readInt32LE(off + pidField.offset);
      if (this.#join.pidOf(tid) === undefined) {
        // A thread the holder started (event-fork added it): whose is it?
        const p = this.#o.cache.resolve(tid);
        this.#join.addThread(tid, p.pid);
      }
      this.#join.send({ timeNs: ts, cpu, tid });
    });
  }

  /** A thread opened a raw or packet socket (or held one at start). */
  #addHolder(tid: number, via: RawVia, tsNs: number, netnsHint?: number): void {
    // The capture first: until it is open, the holder's SYNs are not seen at all.
    if (this.#self.has(tid)) return;
    const netnsOf = netnsHint ?? parseNamespaceLink(tryReadlink(`${this.#o.procRoot}/${tid}/ns/net`) ?? "");
    if (netnsOf === undefined) return;
    this.#openCapture(netnsOf, tid);
    const process = this.#o.cache.resolve(tid);
    const netns = process.netns ?? netnsOf;
    // Our own sockets (the dashboard's scans discover hosts with ICMP and ACKs, never SYNs) are exempt.
    if (process.partial || process.pid === globalThis.process.pid) return;
    const known = this.#join.holderPids().includes(process.pid);
    const holder: RawHolder = { process, netns, via };
    this.#join.addHolder(holder);
    this.#join.addThread(tid, process.pid);
    if (!known) {
      const spell: { since: number; until?: number } = { since: tsNs };
      this.#untraced.set(process.pid, spell);
      this.#trace(process.pid);
      spell.until = (this.#o.now() + 1) * 1e6;
    }
    this.#timer ??= setInterval(() => this.#tick(), 10);
  }

  /** Add the process's threads to the sends instance's pid filter, and switch its events on. */
  #trace(pid: number): void {
    const sends = this.#sends;
    if (!sends) return;
    const list = (): number[] => {
      try {
        return readdirSync(`${this.#o.procRoot}/${pid}/task`).map(Number);
      } catch {
        return [pid];
      }
    };
    try {
      // Each write waits for the kernel to publish the new list (about 25 ms here): one write, and a second only for threads started meanwhile.
      const first = list();
      sends.append("set_event_pid", first.join(" "));
      const late = list().filter((t) => !first.includes(t));
      if (late.length > 0) sends.append("set_event_pid", late.join(" "));
      for (const t of [...first, ...late]) this.#join.addThread(t, pid);
      this.#tracedPids.add(pid);
      if (!this.#sendsOn) {
        for (const e of this.#sendEvents) sends.write(`events/${e}/enable`, "1");
        this.#sendsOn = true;
      }
    } catch (e) {
      this.#o.notes.add(`raw senders: cannot trace the sends of pid ${pid} (${(e as Error).message}); its SYNs are joined by namespace only`);
    }
  }

  #openCapture(netns: number, pid: number): void {
    const have = this.#captures.get(netns);
    if (have) {
      have.emptySince = undefined;
      return;
    }
    let fds: Int32Array;
    try {
      fds = this.#o.native.captureOpen(`${this.#o.procRoot}/${pid}/ns/net`, this.#cpuCount);
    } catch (e) {
      this.#o.notes.add(`raw senders: cannot capture in network namespace ${netns} (${(e as Error).message}); SYNs sent there are not seen`);
      return;
    }
    const capture: Capture = { netns, fds };
    capture.waker = this.#o.native.watchReadable(fds, () => {
      this.#readCapture(capture);
      capture.waker?.rearm();
    });
    if (this.#captures.size === 0 && this.#o.kernelConnects) {
      // The caller stopped telling kernel connects while nothing captured: the ones that matter now, from the start.
      this.#join.clearKernel();
      this.#o.kernelConnects((n, daddr, dport, leftNs) => (leftNs === undefined ? this.#join.kernelConnect(n, daddr, dport) : this.#join.kernelLeave(n, daddr, dport, leftNs)));
    }
    this.#captures.set(netns, capture);
  }

  /** Is a capture open (in any namespace)? Only then are kernel connects needed (kernelConnect, kernelLeave). */
  get capturing(): boolean {
    return this.#captures.size > 0;
  }

  #readCapture(c: Capture): void {
    if (this.#stopped) return;
    for (let round = 0; round < 16; round++) {
      const buf = this.#o.native.captureRead(c.fds, 4096);
      if (!buf) break;
      const { packets } = parseCapture(buf);
      this.#join.packets(c.netns, packets);
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    const now = this.#o.now();
    this.#release(now);
    if (now - this.#dropsReadAt >= 1000) {
      this.#dropsReadAt = now;
      this.#readDrops();
    }
  }

  /** Packets the captures dropped since the last look: lost events, said like the ring buffer's. */
  #readDrops(capture?: Capture): void {
    let n = 0;
    for (const c of capture ? [capture] : this.#captures.values()) {
      try {
        n += this.#o.native.captureDrops(c.fds);
      } catch {
        // closed
      }
    }
    if (n > 0) {
      this.#drops += n;
      this.#o.emit([{ type: "lost", time: this.#o.now(), count: n }]);
    }
  }

  #release(nowMs: number, flush = false): void {
    const watermark = flush ? Number.POSITIVE_INFINITY : Math.min((nowMs - REORDER_MS) * 1e6, this.#o.kernelReadNs?.() ?? Number.POSITIVE_INFINITY);
    // Packets wait for the sends that may claim them; the single-holder rule applies to a holder's first moments only.
    this.#applyInferenceWindow(nowMs);
    const events = this.#join.release(watermark, nowMs * 1e6);
    if (events.length > 0) this.#o.emit(events);
    for (const u of this.#join.takeUnattributed()) {
      this.#unattributed += u.count;
      if (u.candidates.length > 1) this.#o.notes.add(`raw senders: ${u.count} SYN(s) in network namespace ${u.netns} could not be told apart between pids ${u.candidates.join(", ")}`);
    }
  }

  #applyInferenceWindow(nowMs: number): void {
    for (const [pid, spell] of this.#untraced) if (spell.until !== undefined && nowMs * 1e6 - spell.until > 10 * REORDER_MS * 1e6) this.#untraced.delete(pid);
    this.#join.inferable = (pid: number, timeNs: number) => {
      const spell = this.#untraced.get(pid);
      return spell !== undefined && timeNs >= spell.since - 1e6 && (spell.until === undefined || timeNs <= spell.until);
    };
  }

  /** Called for every connect() the main instance sees (its SYN passes our taps too), while `capturing` at least. */
  kernelConnect(netns: number | undefined, daddr: string, dport: number): void {
    this.#join.kernelConnect(netns, daddr, dport);
  }

  kernelLeave(netns: number | undefined, daddr: string, dport: number, timeNs: number): void {
    this.#join.kernelLeave(netns, daddr, dport, timeNs);
  }

  /** A process exited: once no holder is left in a namespace its capture closes (after replies had time to come). */
  processExited(pid: number): void {
    if (!this.#tracedPids.has(pid) && !this.#join.holderPids().includes(pid)) return;
    // Its last sends and packets are joined before it is forgotten.
    try {
      this.#readSends();
      for (const c of this.#captures.values()) this.#readCapture(c);
    } catch {
      // read again at the next wake
    }
    this.#release(this.#o.now() + REORDER_MS);
    this.#join.removeHolder(pid);
    this.#tracedPids.delete(pid);
    this.#closeIdle();
  }

  #closeIdle(): void {
    const now = this.#o.now();
    for (const c of this.#captures.values()) {
      if (this.#join.holdersIn(c.netns).length > 0) continue;
      c.emptySince ??= now;
    }
    if (this.#join.holders === 0 && this.#sendsOn && this.#sends) {
      try {
        for (const e of this.#sendEvents) this.#sends.write(`events/${e}/enable`, "0");
        this.#sends.write("set_event_pid", "");
        this.#sendsOn = false;
      } catch {
        // left on: filtered to exited threads, it records nothing
      }
    }
    this.#reap(now);
  }

  /** Close captures empty for longer than the answer time. */
  #reap(now: number): void {
    for (const [netns, c] of this.#captures) {
      if (c.emptySince === undefined || now - c.emptySince < this.#join.answerNs / 1e6 + 1000) continue;
      this.#closeCapture(c);
      this.#captures.delete(netns);
    }
    if (this.#captures.size === 0 && this.#join.holders === 0 && this.#join.pending === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else if (this.#captures.size > 0 && !this.#reapTimer) {
      this.#reapTimer = setTimeout(() => {
        this.#reapTimer = undefined;
        this.#closeIdle();
      }, 1000);
    }
  }

  #reapTimer?: NodeJS.Timeout;

  #closeCapture(c: Capture): void {
    this.#readDrops(c);
    c.waker?.stop();
    for (const fd of c.fds) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
    }
  }

  stop(): void {
    if (this.#stopped) return;
    try {
      if (this.#sends) this.#readSends();
      for (const c of this.#captures.values()) this.#readCapture(c);
      this.#release(this.#o.now(), true);
    } catch {
      // shutdown loses only the tail
    }
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#reapTimer);
    for (const w of this.#wakers) w.stop();
    for (const c of this.#captures.values()) this.#closeCapture(c);
    this.#captures.clear();
    this.#sockets?.close();
    this.#sends?.close();
    if (this.#stampHolder !== undefined) closeSync(this.#stampHolder);
  }
}

