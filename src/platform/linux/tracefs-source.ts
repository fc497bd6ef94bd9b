/**
 * TracefsSource: every outbound TCP connect attempt on the host, live and
 * exact, from the tracepoint sock:inet_sock_set_state, read as binary
 * ring-buffer pages from a tracefs instance of our own.
 *
 * Mechanism: mkdir <tracefs>/instances/halfopen-<pid>-<random>; the kernel filters
 * `protocol == 6 && (newstate == 2 || oldstate == 2)` (moves into and out of
 * SYN_SENT only); tcp_receive_reset, tcp_retransmit_skb and sched exit/exec
 * are enabled when present. Each CPU's trace_pipe_raw is read without
 * blocking when the event loop's epoll says one is readable (the native helper's uv_poll; the
 * instance's buffer_percent is 0: woken on the first event) and then every 2 ms
 * while events keep coming (busyReadMs), or every 10 ms
 * without the helper; pages are decoded with the kernel's own format offsets and merged
 * in timestamp order up to a watermark taken before the read, so an attempt's
 * end (often on another CPU, in softirq) never overtakes its start.
 * Attempts are keyed by skaddr; the pid is the one running at CLOSE->SYN_SENT
 * (the connecting thread), as bcc's tcplife does.
 *
 * Needs: root, Linux 4.16+ (tcp_receive_reset 4.17+ to tell refused from
 * timed out), tracefs (mounted here if it is not).
 * Caveats: if the ring buffer overflows, the lost count is read from the
 * per-CPU stats and reported; attempts whose end was lost end as "unknown".
 *
 * Other watches: an instance is in use while any file in it is open (the
 * kernel refuses rmdir with EBUSY), so start-up removes only the halfopen
 * instances rmdir accepts (owner gone, whatever its pid or pid namespace) and
 * never writes into another instance. We hold our instance's tracing_on open
 * from mkdir to exit, and check every second that tracing is still on; if
 * someone switched it off we say so (a `blind` event) and switch it back on.
 *
 * The rooms: tracefs-instance.ts owns the instance's lifecycle (mkdir, the
 * held file, configuration, per-CPU descriptors, lost counters, health,
 * removal, stale cleanup); the native helper reads the pages and decodes
 * the hot records into columns (tracefs-columns.ts: the records read, and
 * the pure merge of the per-CPU streams); tracefs-decode.ts decodes the rest
 * (and everything without the helper) as objects, with tracefs-format.ts;
 * this file reads, names processes and turns records into events.
 */

import { readFileSync, readSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { ConnectionEvent } from "../../core/events.js";
import { NoteLog, type NoteRead } from "../../core/note-log.js";
import { RecentMap } from "../../core/recent-map.js";
import { TcpState } from "../../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { ConnectionSource, SourceStats } from "../types.js";
import { loadNative, type NativeHelper, type StateDecoder } from "./native.js";
import { ProcessInfoCache } from "./process-info.js";
import { visitPage } from "./ring-buffer.js";
import { type Endpoint, EndpointMemo, type IpFamily, keyedEndpoint } from "../../core/endpoint.js";
import type { ProcessInfo } from "../../core/events.js";
import { type TracefsFormats, type TracefsRecord, makeRecordDecoder, socketTuple } from "./tracefs-decode.js";
import { type EventFormat, type PageLayout, parseEventFormat, parseHeaderPage, parseSymbols } from "./tracefs-format.js";
import { INSTANCE_PREFIX, TracefsInstance, ensureTracefs, removeStaleInstances, type StaleCleanup } from "./tracefs-instance.js";
import { IN_INTERRUPT, Ipv4Endpoints, KIND_OTHER, KIND_RESET, KIND_RETRANSMIT, KIND_STATE, RecordColumns, STRIDE, stateDecoderConfig } from "./tracefs-columns.js";
import { type InitialHolder, RawSenderTracer } from "./raw-tracer.js";
import { DnsWatcher } from "./dns-watcher.js";

export { INSTANCE_PREFIX, ensureTracefs, findTracefs, removeStaleInstances, type StaleCleanup } from "./tracefs-instance.js";

export interface TracefsSourceOptions {
  /** tracefs mount point; default: found, or mounted at /sys/kernel/tracing. */
  tracefsRoot?: string;
  /** Ring buffer per CPU, in KiB. Default 8192. */
  bufferKb?: number;
  /** How often the per-CPU buffers are read when not woken on data (no native helper, or `wake: "timer"`). Default 10 ms. */
  pollMs?: number;
  /**
   * "data": sleep until the kernel says a buffer is readable (the event loop's
   * epoll through the native helper; the default when it loads); "timer": read every
   * `pollMs` (the only way without the helper). Env HALFOPEN_TRACEFS_WAKE.
   */
  wake?: "data" | "timer";
  /** Events are released this long after their timestamp at the earliest, to merge CPUs in order. Default 1 ms. */
  reorderMs?: number;
  /**
   * Woken on data: the first event after a quiet spell is read at once (its
   * process's /proc is read while it is surely there), then the buffers are
   * read every `busyReadMs` on a timer while they hold events, and the kernel
   * wakes us again only once two reads in a row found nothing. A stream costs
   * one timer per read, not a wake-up, a deferral and a re-arm of every CPU's
   * file (the kernel wakes the reader at every event: reading each alone cost
   * a quarter of a core at 10,000 attempts/s). An event waits at most
   * `busyReadMs` + `reorderMs`. Default 2 ms (3 ms cost no less and added 0.7 ms to the median latency to the incident line).
   */
  busyReadMs?: number;
  /**
   * The busy timer while the caller says the pace is "relaxed" (setPace: an incident is open, the host above the
   * limit). Each wake-up costs about 42 µs of CPU on a VM (measured here: a 2 ms timer alone takes 2.1% of a core), a
   * third of watch's own CPU at 20,000 attempts/s. Default 20 ms: then the wake-ups cost a tenth of the 2 ms timer's,
   * and a verdict line or a dashboard update during the incident waits at most that long.
   */
  relaxedReadMs?: number;
  procRoot?: string;
  /**
   * Reads the attempts in SYN_SENT now, with their owners (the procfs reader:
   * sock_diag or /proc/net/tcp). Called before the instance starts tracing
   * and once after; the attempts in both reads were half-open across the
   * start, so tracing will see their end: they seed the table, marked
   * `seenAtStart`. Without it, attempts already half-open are not seen.
   */
  readSynSent?: () => Promise<SynSentSocket[]>;
  /**
   * Trace the processes that send SYNs without connect() (raw IP and packet
   * sockets: raw-tracer.ts). Default true; env HALFOPEN_RAW=0 switches it off.
   */
  raw?: boolean;
  /** The raw and packet socket holders already there at start (procfs reader). */
  readRawHolders?: () => Promise<InitialHolder[]>;
  /** A raw SYN unanswered this long ends as "timeout". Default 3000 ms. */
  rawAnswerMs?: number;
  /** Watch the DNS answers the host receives (dns-watcher.ts) for names and DNS-aware verdicts. Default true. */
  dns?: boolean;
}

/** An attempt in SYN_SENT read from the socket table (for seeding at start). */
export interface SynSentSocket {
  family: IpFamily;
  src: Endpoint;
  dst: Endpoint;
  process: ProcessInfo;
}

const MAX_PAGES_PER_CPU_PER_POLL = 1024;

/**
 * The helper's page reader and decoder (createStateDecoder), its page buffer, the CPUs' fds and its meta slots; and
 * what one poll() asks before each read: the CPUs' fds, then the DNS captures' (`dnsFds`), and which are readable.
 */
interface NativeReader {
  helper: NativeHelper;
  decoder: StateDecoder;
  buf: Buffer;
  fds: Int32Array;
  meta: Int32Array;
  dnsFds: Int32Array | undefined;
  pollFds: Int32Array;
  ready: Uint8Array;
}
/** Pages per CPU the native helper reads in one call (its buffer: this many pages per CPU). */
const PAGES_PER_NATIVE_READ = 16;
/** A drop in the connecting thread this soon after its connect is that connect's SYN. */
const DROP_JOIN_NS = 5e6;
/** How long a connect of an unnamed, already gone process waits for its exit record. */
const NAME_WAIT_MS = 50;

function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

export class TracefsSource implements ConnectionSource {
  readonly name = "tracefs";
  readonly exact = true;
  readonly caveats: string[] = [];
  /** Pid plus a random part: two watches in different pid namespaces can have the same pid. */
  readonly instance = `${INSTANCE_PREFIX}${process.pid}-${randomBytes(4).toString("hex")}`;
  /** What start-up cleanup did (for tests and the caller's notes). */
  cleanup: StaleCleanup = { removed: [], inUse: [], failed: [] };
  readonly #options: TracefsSourceOptions;
  #root = "";
  #instance?: TracefsInstance;
  #layout?: PageLayout;
  #decode?: (buf: Buffer, off: number, ts: number) => TracefsRecord | undefined;
  #formats?: TracefsFormats;
  #waker?: { rearm(): void; stop(): void };
  #reorderTimer?: NodeJS.Timeout;
  /** Reading on the busy timer (woken on data, and the buffers held events at a recent read). */
  #busy = false;
  #busyTimer?: NodeJS.Timeout;
  /** Reads in a row, while busy, that found nothing. */
  #emptyReads = 0;
  /** setPace: read on the relaxed timer while busy. */
  #relaxed = false;
  #relaxedReads = 0;
  readonly #warnings = new NoteLog();
  /** Seeded attempts not yet matched to a socket: tuple -> our sock key. */
  readonly #seeds = new Map<string, string>();
  /** Kernel socket address -> sock key of a seeded attempt. */
  readonly #alias = new Map<string, string>();
  #seeded = 0;
  #blindSince?: number;
  #blindMs = 0;
  #blindSpells = 0;
  #cache: ProcessInfoCache;
  /** Records read and not yet released (the merge; tracefs-columns.ts); `extra` holds the ones decoded as objects. */
  readonly #columns = new RecordColumns<TracefsRecord>();
  /** The socket id keys the helper's records carry, made once per id. */
  readonly #sockKeys: string[] = [];
  /** IPv4 addresses as strings, by their 32 bits as the kernel stores them. */
  readonly #ipv4 = new Map<number, string>();
  #lastIpv4Bits = 0;
  #lastIpv4 = "0.0.0.0";
  #prevIpv4Bits = 0;
  #prevIpv4 = "0.0.0.0";
  #timer?: NodeJS.Timeout;
  #statsTimer?: NodeJS.Timeout;
  #queue: ConnectionEvent[][] = [];
  #wake?: () => void;
  #stopped = false;
  #lost = 0;
  #records = 0;
  #reads = 0;
  #pageSize = 4096;
  #page: Buffer = Buffer.alloc(4096);
  /**
   * Endpoint objects made once per address and port, frozen: an attempt keeps them for its life, never changed in
   * place. Sources and destinations apart: each memo keeps its last address at hand, and a flood has one of each.
   */
  readonly #srcEndpoints = new EndpointMemo<Endpoint>((address, port) => Object.freeze({ address, port }));
  readonly #dstEndpoints = new EndpointMemo<Endpoint>(keyedEndpoint);
  /**
   * The same endpoints by the address's bits and the port, for the records the helper decoded into columns: every
   * source port of an address has its own slot (a flood cycles through all of them), destinations 8192.
   */
  readonly #srcCache = new Ipv4Endpoints((bits, port) => this.#srcEndpoints.get(this.#ipv4String(bits), port), 65_536);
  readonly #dstCache = new Ipv4Endpoints((bits, port) => this.#dstEndpoints.get(this.#ipv4String(bits), port), 8192);
  /** The page being decoded (#stage reads its records from it). */
  #current: Buffer = this.#page;
  /** The helper's reader and decoder: one call per poll, no exception per empty buffer, no object per record. */
  #native?: NativeReader;
  #raw?: RawSenderTracer;
  /** Each thread's latest connect (its SYN may be dropped right after, in the same call); bounded; a flood's thread kept at hand. */
  readonly #lastConnect = new RecentMap<number, { sock: string; slot: number | undefined; timeNs: number }>();
  #dns?: DnsWatcher;
  /** What this kernel lets us see of raw senders (said at start). */
  rawSenders = "not traced";
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
    const raw = this.#raw?.details;
    return {
      lostEvents: this.#lost + (raw?.rawCaptureDrops ?? 0),
      records: this.#records,
      reads: this.#reads,
      relaxedReads: this.#relaxedReads,
      blindMs: Math.round(this.#blindMs),
      blindSpells: this.#blindSpells,
      ...(raw ? { rawCaptureDrops: raw.rawCaptureDrops, rawUnattributed: raw.rawUnattributed } : {}),
    };
  }

  /** How the buffers are read: woken on data (the event loop's epoll, through the helper) or on a timer. */
  get wakeMode(): "data" | "timer" {
    return this.#waker ? "data" : "timer";
  }

  details(): Record<string, string | number | boolean> {
    return { instance: this.instance, wake: this.wakeMode, seenAtStart: this.#seeded, rawSenders: this.rawSenders, ...(this.#raw?.details ?? {}), dns: this.#dns ? "answers watched" : "off", ...(this.#dns?.details ?? {}) };
  }

  warnings(since: number): NoteRead {
    const due = this.#cache.fdFailureNote();
    if (due) this.#warnings.add(due);
    return this.#warnings.since(since);
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
    this.#formats = formats;
    if (!formats.receiveReset) this.caveats.push("tcp:tcp_receive_reset is missing (Linux < 4.17): refused attempts are reported as timeout");
    const instance = new TracefsInstance(this.#root, this.instance);
    this.#instance = instance;
    const before = await this.#readSynSent();
    try {
      instance.create();
      this.cleanup = removeStaleInstances(this.#root, this.instance);
      const { removed, inUse, failed } = this.cleanup;
      if (removed.length > 0) this.caveats.push(`removed ${removed.length} stale tracefs instance${removed.length === 1 ? "" : "s"} no process held open: ${removed.join(", ")}`);
      if (inUse.length > 0) this.caveats.push(`${inUse.length} other halfopen tracefs instance${inUse.length === 1 ? " is" : "s are"} in use (another watch, maybe in another pid namespace), left alone: ${inUse.join(", ")}`);
      if (failed.length > 0) this.caveats.push(`could not remove stale tracefs instances: ${failed.join(", ")}`);
      this.caveats.push(...instance.configure(formats, this.#options.bufferKb ?? 8192));
      instance.openCpus();
    } catch (e) {
      this.stop();
      if (e instanceof HalfOpenError) throw e;
      throw new HalfOpenError(ErrorCodes.TRACEFS_FAILED, `Cannot set up tracefs instance "${instance.dir}": ${(e as Error).message}`, { cause: e });
    }
    if (before) this.#seed(before, await this.#readSynSent());
    await this.#startRaw();
    this.#startDns();
    this.#startReading();
    let checks = 0;
    this.#statsTimer = setInterval(() => {
      this.#checkLost();
      this.#checkHealth();
      // A safety net for a missed wake-up (every 5 s: an idle watch wakes as little as it can).
      if (this.#waker && ++checks % 5 === 0) this.#poll();
    }, 1000);
  }

  /** Raw and packet SYN senders: traced when this kernel and the helper allow it; said either way. */
  async #startRaw(): Promise<void> {
    if (this.#options.raw === false || process.env.HALFOPEN_RAW === "0") {
      this.rawSenders = "not traced (switched off)";
      return;
    }
    const native = loadNative();
    const why = RawSenderTracer.unavailable(this.#root, native);
    if (why || !native || !this.#layout) {
      this.rawSenders = `not visible: ${why ?? "no page layout"}`;
      this.caveats.push(`raw senders (SYNs without connect(): nmap -sS, masscan, zmap) are not visible here: ${why ?? ""}`);
      return;
    }
    const tracer = new RawSenderTracer({
      root: this.#root,
      instance: this.instance,
      layout: this.#layout,
      native,
      cache: this.#cache,
      procRoot: this.#options.procRoot ?? "/proc",
      notes: this.#warnings,
      now: () => this.now(),
      emit: (events) => {
        this.#queue.push(events);
        this.#wakeReader();
      },
      kernelConnects: this.#kernelConnects,
      // Reading on the busy timer, the records up to the last release's watermark are told; idle (the kernel wakes
      // us on the next record), nothing is behind.
      kernelReadNs: () => (this.#busy ? this.#releasedNs : Number.POSITIVE_INFINITY),
      ...(this.#options.rawAnswerMs === undefined ? {} : { answerMs: this.#options.rawAnswerMs }),
    });
    try {
      tracer.start();
      if (this.#options.readRawHolders) tracer.addInitial(await this.#options.readRawHolders());
      this.#raw = tracer;
      this.rawSenders = tracer.visibility;
    } catch (e) {
      tracer.stop();
      this.rawSenders = `not visible: ${(e as Error).message}`;
      this.caveats.push(`raw senders (SYNs without connect()) are not visible: cannot set up their tracing (${(e as Error).message})`);
    }
  }

  #noteConnect(tid: number, sock: string, slot: number | undefined, timeNs: number): void {
    // A thread that connects again updates its entry in place (no object and no map churn per connect); the
    // oldest threads go first past 4096, and a drop joins only within DROP_JOIN_NS of its connect.
    const last = this.#lastConnect.get(tid);
    if (last) {
      last.sock = sock;
      last.slot = slot;
      last.timeNs = timeNs;
      return;
    }
    this.#lastConnect.set(tid, { sock, slot, timeNs });
    if (this.#lastConnect.size > 4096) this.#lastConnect.delete(this.#lastConnect.keys().next().value as number);
  }

  /** The DNS answers (names, DNS-aware verdicts), where the helper can capture them; said when not. */
  #startDns(): void {
    if (this.#options.dns === false) return;
    const native = loadNative();
    if (!native || typeof native.captureOpen !== "function") {
      this.caveats.push("DNS answers are not watched (needs the native helper): destinations are shown by address and verdicts do not know which were looked up");
      return;
    }
    const dns = new DnsWatcher({
      native,
      procRoot: this.#options.procRoot ?? "/proc",
      notes: this.#warnings,
      emit: (events) => {
        this.#queue.push(events);
        this.#wakeReader();
      },
    });
    try {
      dns.start();
      this.#dns = dns;
    } catch (e) {
      dns.stop();
      this.caveats.push(`DNS answers are not watched: ${(e as Error).message}`);
    }
  }

  async #readSynSent(): Promise<SynSentSocket[] | undefined> {
    if (!this.#options.readSynSent) return undefined;
    try {
      return await this.#options.readSynSent();
    } catch (e) {
      this.caveats.push(`cannot read the attempts already half-open at start (${(e as Error).message}); they are not counted`);
      return undefined;
    }
  }

  /** Seed the table with the attempts half-open in both reads (before and after tracing started). */
  #seed(before: SynSentSocket[], after: SynSentSocket[] | undefined): void {
    if (!after) return;
    const tupleOf = (s: SynSentSocket) => socketTuple(s.src.address, s.src.port, s.dst.address, s.dst.port);
    const earlier = new Map(before.map((s) => [tupleOf(s), s.process.pid]));
    const time = this.now();
    const batch: ConnectionEvent[] = [];
    for (const s of after) {
      const tuple = tupleOf(s);
      if (earlier.get(tuple) !== s.process.pid || this.#seeds.has(tuple)) continue;
      const sock = `start:${tuple}`;
      this.#seeds.set(tuple, sock);
      batch.push({ type: "connect", time, sock, pid: s.process.pid, family: s.family, src: { ...s.src }, dst: { ...s.dst }, process: s.process, seenAtStart: true });
    }
    this.#seeded = batch.length;
    if (batch.length > 0) this.#queue.push(batch);
  }

  /** The sock key of an event: a seeded attempt's own key once its kernel socket is known, else the kernel's. */
  #sockOf(sock: string, tuple: string | undefined, ending: boolean): string {
    if (this.#alias.size > 0) {
      const seeded = this.#alias.get(sock);
      if (seeded !== undefined) {
        if (ending) this.#alias.delete(sock);
        return seeded;
      }
    }
    if (tuple === undefined || this.#seeds.size === 0) return sock;
    const seeded = this.#seeds.get(tuple);
    if (seeded === undefined) return sock;
    this.#seeds.delete(tuple);
    if (!ending) this.#alias.set(sock, seeded);
    return seeded;
  }


  #startReading(): void {
    const wake = this.#options.wake ?? (process.env.HALFOPEN_TRACEFS_WAKE === "timer" ? "timer" : "data");
    const helper = wake === "data" ? loadNative() : undefined;
    const cpus = this.#instance?.cpus ?? [];
    if (helper && typeof helper.createStateDecoder === "function" && cpus.length > 0 && this.#formats && this.#layout) {
      const fds = Int32Array.from(cpus.map((c) => c.fd));
      this.#native = {
        helper,
        decoder: helper.createStateDecoder(stateDecoderConfig(this.#formats, this.#layout)),
        buf: Buffer.alloc(this.#pageSize * PAGES_PER_NATIVE_READ * cpus.length),
        fds,
        meta: new Int32Array(4),
        dnsFds: undefined,
        pollFds: fds,
        ready: new Uint8Array(fds.length),
      };
    }
    if (helper?.watchReadable) {
      try {
        // Woken (the watcher stops until rearmed): read now, then on the busy timer until the buffers stay empty.
        this.#waker = helper.watchReadable(Int32Array.from((this.#instance?.cpus ?? []).map((f) => f.fd)), () => {
          this.#emptyReads = 0;
          this.#busyRead();
        });
        return;
      } catch (e) {
        this.caveats.push(`cannot wait for tracefs data (${(e as Error).message}); reading every ${this.#options.pollMs ?? 10} ms`);
      }
    } else if (wake === "data") {
      this.caveats.push(`the native helper is not built: tracefs buffers are read every ${this.#options.pollMs ?? 10} ms (about 3% of a core while idle)`);
    }
    this.#timer = setInterval(() => this.#poll(), this.#options.pollMs ?? 10);
  }

  /**
   * Is our instance still tracing? Someone (an older halfopen, a user, a
   * tool) may write 0 into its tracing_on or an event's enable file: then we
   * are blind, and that is said loudly and repaired.
   */
  #checkHealth(): void {
    const instance = this.#instance;
    if (this.#stopped || !instance?.open) return;
    const what = instance.whyOff();
    if (what === undefined) return;
    const now = this.now();
    if (this.#blindSince === undefined) {
      // Noticed now; it may have happened up to one check (1 s) earlier.
      this.#blindSince = now - 1000;
      this.#blindSpells++;
    }
    const since = this.#blindSince;
    if (instance.repair()) {
      const ms = now - since;
      this.#blindMs += ms;
      this.#blindSince = undefined;
      this.#queue.push([{ type: "blind", time: now, since, durationMs: ms, reason: `${what}; switched back on (instance ${this.instance})` }]);
    } else {
      this.#queue.push([{ type: "blind", time: now, since, durationMs: now - since, reason: `${what}; cannot switch it back on (instance ${this.instance})`, ongoing: true }]);
    }
    this.#wakeReader();
  }

  /** A read while busy; the next is planned, or, after two empty ones with nothing held, the kernel is to wake us. */
  readonly #busyRead = (): void => {
    this.#busyTimer = undefined;
    if (this.#stopped) return;
    this.#busy = true;
    if (this.#relaxed) this.#relaxedReads++;
    const before = this.#records + this.#columns.count;
    this.#poll();
    const read = this.#records + this.#columns.count - before;
    this.#emptyReads = read > 0 ? 0 : this.#emptyReads + 1;
    if (this.#emptyReads >= 2 && this.#columns.count === 0) {
      this.#busy = false;
      this.#waker?.rearm();
    } else this.#busyTimer = setTimeout(this.#busyRead, this.#relaxed ? (this.#options.relaxedReadMs ?? 20) : (this.#options.busyReadMs ?? 2));
  };

  /** See ConnectionSource.setPace. Back to "prompt", a planned relaxed read comes sooner. */
  setPace(pace: "prompt" | "relaxed"): void {
    const relaxed = pace === "relaxed";
    if (relaxed === this.#relaxed) return;
    this.#relaxed = relaxed;
    if (!relaxed && this.#busyTimer !== undefined) {
      clearTimeout(this.#busyTimer);
      this.#busyTimer = setTimeout(this.#busyRead, this.#options.busyReadMs ?? 2);
    }
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
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
    clearTimeout(this.#reorderTimer);
    clearTimeout(this.#busyTimer);
    this.#waker?.stop();
    this.#waker = undefined;
    this.#raw?.stop();
    this.#dns?.stop();
    if (this.#blindSince !== undefined) {
      this.#blindMs += this.now() - this.#blindSince;
      this.#blindSince = undefined;
    }
    this.#instance?.close();
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
    // Drop reasons (Linux 5.17+): the names come from the format's print fmt.
    const kfree = read("skb/kfree_skb");
    if (kfree?.fields.has("reason")) {
      try {
        kfree.symbols = parseSymbols(readFileSync(`${this.#root}/events/skb/kfree_skb/format`, "utf8"));
        formats.kfreeSkb = kfree;
      } catch {
        // no reasons: dropped SYNs end as timeout
      }
    }
    return formats;
  }




  #checkLost(): void {
    for (const l of this.#instance?.newlyLost() ?? []) {
      this.#lostPending.push(l);
      this.#lost += l.count;
    }
  }

  /** Read every CPU's pages; release events older than `watermark` (ns) in time order. */
  #poll(watermark = monotonicNs() - (this.#options.reorderMs ?? 1) * 1e6): void {
    if (this.#stopped || !this.#layout || !this.#decode) return;
    this.#reads++;
    let sawLostFlag = false;
    if (this.#native) sawLostFlag = this.#readNative(this.#native);
    else
      for (const { fd } of this.#instance?.cpus ?? []) {
        for (let i = 0; i < MAX_PAGES_PER_CPU_PER_POLL; i++) {
          let n: number;
          try {
            n = readSync(fd, this.#page, 0, this.#pageSize, null);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
            throw e;
          }
          if (n <= 0) break;
          this.#current = this.#page;
          if (visitPage(this.#page.subarray(0, n), this.#layout, this.#stage) !== 0) sawLostFlag = true;
        }
      }
    if (sawLostFlag) this.#checkLost();
    // Answers before connects: each connect's DNS answer, if any, arrived before it (the poll before the read said
    // which captures hold one).
    const n = this.#native;
    if (n) {
      if (n.dnsFds) this.#dns?.drainReady(n.ready, n.fds.length);
    } else this.#dns?.drain();
    this.#release(watermark);
    // Events younger than the watermark wait for one more read; with no timer
    // running (woken on data, not busy) nothing else would read them.
    if (this.#waker && !this.#busy && this.#columns.count > 0 && this.#reorderTimer === undefined) {
      this.#reorderTimer = setTimeout(() => {
        this.#reorderTimer = undefined;
        this.#poll();
      }, (this.#options.reorderMs ?? 1) + 1);
    }
  }

  /**
   * Every CPU's pages through the helper, PAGES_PER_NATIVE_READ per CPU a call, decoded into the columns, until none
   * filled its share; true when a page said events were lost.
   */
  #readNative(n: NativeReader): boolean {
    let lost = false;
    const size = this.#pageSize;
    const cols = this.#columns;
    // One poll() says which CPUs hold events and which DNS captures hold answers: an idle CPU costs no read (a host
    // with 64 CPUs made 64 reads at every read of the buffers, most of them EAGAIN), and the answers no poll of their own.
    const dnsFds = this.#dns?.fds;
    if (dnsFds !== n.dnsFds) {
      n.dnsFds = dnsFds;
      n.pollFds = dnsFds ? Int32Array.from([...n.fds, ...dnsFds]) : n.fds;
      n.ready = new Uint8Array(n.pollFds.length);
    }
    if (n.helper.pollReadable(n.pollFds, n.ready) === 0) return false;
    let cpusReady = false;
    for (let i = 0; i < n.fds.length; i++) if (n.ready[i]) cpusReady = true;
    if (!cpusReady) return false;
    for (let round = 0; round < MAX_PAGES_PER_CPU_PER_POLL / PAGES_PER_NATIVE_READ; round++) {
      // Room for a few pages of the smallest records; the helper stops before a page it has no room for.
      cols.reserve((size / 8) * 4);
      const start = cols.count;
      try {
        n.decoder.read(n.fds, n.buf, size, PAGES_PER_NATIVE_READ, cols.ts.subarray(start), cols.fields.subarray(start * STRIDE), n.meta, n.ready);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EBADPAGE") throw new HalfOpenError(ErrorCodes.BAD_PAGE, `Cannot decode ring-buffer page: ${(e as Error).message}`);
        throw e;
      }
      const [records = 0, pages = 0, pageLost = 0, full = 0] = n.meta;
      cols.count = start + records;
      if (pageLost) lost = true;
      this.#current = n.buf;
      this.#staged(start);
      if (full) {
        cols.reserve(cols.capacity);
        continue;
      }
      // Fewer pages than one CPU's share: no CPU can have filled its own.
      if (pages < PAGES_PER_NATIVE_READ) break;
    }
    return lost;
  }

  /** What the columns' new records (from `start`) need while their page is at hand: names read now, and objects for what numbers do not hold. */
  #staged(start: number): void {
    const cols = this.#columns;
    const f = cols.fields;
    const seeded = this.#seeds.size > 0;
    for (let i = start; i < cols.count; i++) {
      const at = i * STRIDE;
      const kind = (f[at] as number) & 0xff;
      if (kind === KIND_STATE) {
        const states = f[at + 3] as number;
        // Read /proc now, while a short-lived process is most likely still there.
        if (((states >>> 8) & 0xff) === TcpState.SYN_SENT) this.#cache.resolve(f[at + 1] as number);
        if (states >>> 16 === 6) this.#objectAt(i, f[at + 7] as number);
      } else if (kind === KIND_OTHER || seeded) this.#objectAt(i, f[at + 7] as number);
    }
  }

  /** Decode record i of the columns from the page at hand as an object (its socket key the id's). */
  #objectAt(i: number, offset: number): void {
    const cols = this.#columns;
    const rec = this.#decode?.(this.#current, offset, cols.ts[i] as number);
    if (!rec) return;
    if (rec.kind === "state" || rec.kind === "reset" || rec.kind === "retransmit") rec.sock = this.#sockKey(cols.fields[i * STRIDE + 2] as number);
    else if (rec.kind === "exit") this.#cache.nameFromExit(rec.tid, rec.name);
    cols.setExtra(i, rec);
  }

  #sockKey(id: number): string {
    return (this.#sockKeys[id] ??= `s${id}`);
  }

  #ipv4String(bits: number): string {
    // A flood has few peers: the last two addresses (its source and its destination, asked for in turn) answer most
    // calls without a lookup.
    if (bits === this.#lastIpv4Bits) return this.#lastIpv4;
    let s = bits === this.#prevIpv4Bits ? this.#prevIpv4 : this.#ipv4.get(bits);
    if (s === undefined) {
      if (this.#ipv4.size >= 65_536) this.#ipv4.clear();
      s = `${bits & 0xff}.${(bits >>> 8) & 0xff}.${(bits >>> 16) & 0xff}.${bits >>> 24}`;
      this.#ipv4.set(bits, s);
    }
    this.#prevIpv4Bits = this.#lastIpv4Bits;
    this.#prevIpv4 = this.#lastIpv4;
    this.#lastIpv4Bits = bits;
    this.#lastIpv4 = s;
    return s;
  }

  /** One record of a page just read without the helper: decoded as an object and staged. */
  readonly #stage = (timestampNs: number, offset: number): void => {
    const rec = this.#decode?.(this.#current, offset, timestampNs);
    if (!rec) return;
    if (rec.kind === "state") {
      if (rec.newState === TcpState.SYN_SENT) this.#cache.resolve(rec.tid);
      this.#columns.push(timestampNs, KIND_STATE | (rec.inInterrupt ? IN_INTERRUPT : 0), rec.tid, 0, rec.oldState | (rec.newState << 8) | (rec.family << 16), rec);
      return;
    }
    // A process too quick for /proc gets its name from its exit record, before its connects are released.
    if (rec.kind === "exit") this.#cache.nameFromExit(rec.tid, rec.name);
    this.#columns.push(timestampNs, KIND_OTHER, 0, 0, 0, rec);
  };

  /** The watermark (ns) of the last release: every record stamped before it that was read by then is released. */
  #releasedNs = 0;

  #release(watermark: number): void {
    this.#releasedNs = watermark;
    const out = this.#out;
    for (const l of this.#lostPending) out.push({ type: "lost", time: this.now(), count: l.count, cpu: l.cpu });
    this.#lostPending = [];
    // A connect of a process that was gone before /proc could be read waits (at most
    // NAME_WAIT_MS) for its exit record, which names it: filters by name must see it.
    this.#records += this.#columns.release(watermark, this.#holds, NAME_WAIT_MS * 1e6, this.#emit);
    if (out.length > 0) {
      this.#out = [];
      this.#queue.push(out);
      this.#wakeReader();
    }
  }

  /** The events of the release under way. */
  #out: ConnectionEvent[] = [];

  /** Is record i a connect of a process not named yet? */
  readonly #holds = (i: number): boolean => {
    const f = this.#columns.fields;
    const at = i * STRIDE;
    return ((f[at] as number) & 0xff) === KIND_STATE && (((f[at + 3] as number) >>> 8) & 0xff) === TcpState.SYN_SENT && this.#cache.awaitsName(f[at + 1] as number);
  };

  /** Record i, released: its event, if it makes one. */
  readonly #emit = (i: number): void => {
    const cols = this.#columns;
    const rec = cols.extra.size > 0 ? cols.extra.get(i) : undefined;
    // A socket id from the helper (0: none, the path without it) is the tracker's slot.
    const ev = rec ? this.#toEvent(rec, cols.fields[i * STRIDE + 2] || undefined) : this.#columnEvent(i);
    if (ev) this.#out.push(ev);
  };

  /** The event of a record that lives in the columns only (IPv4 state, reset and retransmit without a seeded tuple). */
  #columnEvent(i: number): ConnectionEvent | undefined {
    const cols = this.#columns;
    const f = cols.fields;
    const at = i * STRIDE;
    const kind = (f[at] as number) & 0xff;
    const timestampNs = cols.ts[i] as number;
    const id = f[at + 2] as number;
    if (kind === KIND_STATE) {
      const states = f[at + 3] as number;
      const ports = f[at + 4] as number;
      const newState = (states >>> 8) & 0xff;
      // Endpoints from the direct-mapped caches: a hit makes no address string and looks nothing up.
      const dst = this.#dstCache.get(f[at + 6] as number, ports >>> 16);
      if (newState === TcpState.SYN_SENT) return this.#connectEvent(timestampNs, f[at + 1] as number, this.#sockKey(id), id, 4, this.#srcCache.get(f[at + 5] as number, ports & 0xffff), dst);
      if ((states & 0xff) !== TcpState.SYN_SENT) return undefined;
      return this.#leaveEvent(timestampNs, this.#sockKey(id), id, newState, ((f[at] as number) & IN_INTERRUPT) !== 0, ports & 0xffff, dst, this.#seeds.size > 0 ? this.#ipv4String(f[at + 5] as number) : undefined);
    }
    if (kind === KIND_RESET) return { type: "reset", time: timestampNs / 1e6, ...this.#keyed(this.#sockKey(id), id, undefined, false) };
    if (kind === KIND_RETRANSMIT && (f[at + 3] as number) === TcpState.SYN_SENT) return { type: "retransmit", time: timestampNs / 1e6, ...this.#keyed(this.#sockKey(id), id, undefined, false) };
    return undefined;
  }

  /** The sock key of an event (#sockOf) and its slot: the socket's id, unless the event is a seeded attempt's. */
  #keyed(sock: string, slot: number | undefined, tuple: string | undefined, ending: boolean): { sock: string; slot: number | undefined } {
    const key = this.#sockOf(sock, tuple, ending);
    return { sock: key, slot: key === sock ? slot : undefined };
  }

  /** A move into or out of SYN_SENT, decoded as an object (IPv6, the path without the helper, seeded sockets). */
  #stateEvent(timestampNs: number, tid: number, sock: string, slot: number | undefined, oldState: number, newState: number, family: IpFamily, saddr: string, sport: number, daddr: string, dport: number, inInterrupt: boolean): ConnectionEvent | undefined {
    // Shared, frozen endpoints: an attempt keeps them for its life, and a flood has few distinct ones.
    if (newState === TcpState.SYN_SENT) return this.#connectEvent(timestampNs, tid, sock, slot, family, this.#srcEndpoints.get(saddr, sport), this.#dstEndpoints.get(daddr, dport));
    if (oldState === TcpState.SYN_SENT) return this.#leaveEvent(timestampNs, sock, slot, newState, inInterrupt, sport, this.#dstEndpoints.get(daddr, dport), saddr);
    return undefined;
  }

  #connectEvent(timestampNs: number, tid: number, sock: string, slot: number | undefined, family: IpFamily, src: Endpoint, dst: Endpoint): ConnectionEvent {
    this.#noteConnect(tid, sock, slot, timestampNs);
    const process = this.#cache.resolve(tid);
    if (this.#raw) this.#rawConnect(this.#raw, process.netns, sock, slot, dst);
    if (this.#dns && process.netns !== undefined) this.#dns.ensure(process.netns, process.pid);
    return { type: "connect", time: timestampNs / 1e6, sock, slot, pid: process.pid, tid, family, src, dst, process };
  }

  /** `saddr`: the source address, needed only while seeded attempts wait for their sockets (undefined otherwise). */
  #leaveEvent(timestampNs: number, sock: string, slot: number | undefined, newState: number, inInterrupt: boolean, sport: number, dst: Endpoint, saddr: string | undefined): ConnectionEvent {
    if (this.#raw) this.#rawLeave(this.#raw, sock, slot, dst, timestampNs);
    const tuple = this.#seeds.size > 0 && saddr !== undefined ? socketTuple(saddr, sport, dst.address, dst.port) : undefined;
    const key = this.#sockOf(sock, tuple, true);
    return { type: "leave", time: timestampNs / 1e6, sock: key, slot: key === sock ? slot : undefined, newState, srcPort: sport, inInterrupt };
  }

  /**
   * Each connect's network namespace and destination, and when it left SYN_SENT (-1: not yet), by slot (the helper's
   * socket id), for the raw join: a raw SYN in one namespace is not hidden by a connect to the same destination in
   * another, and the leave record runs in softirq, without the process, so the namespace is kept from the connect.
   * The join needs them only while a capture is open (RawSenderTracer.capturing); until then they are only kept
   * here (array stores, where the join's maps cost every attempt on the host two lookups), and told to it when a
   * capture opens (#kernelConnects). Without a slot, by sock, and told at once.
   */
  readonly #netnsBySlot: (number | undefined)[] = [];
  readonly #dstBySlot: (Endpoint | undefined)[] = [];
  readonly #leftBySlot: number[] = [];
  readonly #netnsBySock = new Map<string, number | undefined>();

  #rawConnect(raw: RawSenderTracer, netns: number | undefined, sock: string, slot: number | undefined, dst: Endpoint): void {
    if (slot !== undefined) {
      this.#netnsBySlot[slot] = netns;
      this.#dstBySlot[slot] = dst;
      this.#leftBySlot[slot] = -1;
      if (raw.capturing) raw.kernelConnect(netns, dst.address, dst.port);
      return;
    }
    raw.kernelConnect(netns, dst.address, dst.port);
    this.#netnsBySock.set(sock, netns);
    // Leaves lost with the events of a full buffer would otherwise keep their entries.
    if (this.#netnsBySock.size > 262_144) this.#netnsBySock.delete(this.#netnsBySock.keys().next().value as string);
  }

  #rawLeave(raw: RawSenderTracer, sock: string, slot: number | undefined, dst: Endpoint, timeNs: number): void {
    let netns: number | undefined;
    if (slot !== undefined) {
      // A leave with no connect since the slot's last leave (its connect came before we started): namespace unknown.
      if (this.#leftBySlot[slot] === -1) netns = this.#netnsBySlot[slot];
      else {
        this.#netnsBySlot[slot] = undefined;
        this.#dstBySlot[slot] = dst;
      }
      this.#leftBySlot[slot] = timeNs;
      if (!raw.capturing) return;
    } else {
      netns = this.#netnsBySock.get(sock);
      this.#netnsBySock.delete(sock);
    }
    raw.kernelLeave(netns, dst.address, dst.port, timeNs);
  }

  /** The raw join's kernelConnects: each slot's connect in progress, or that left SYN_SENT within the last second. */
  readonly #kernelConnects = (visit: (netns: number | undefined, daddr: string, dport: number, leftNs?: number) => void): void => {
    const recent = monotonicNs() - 1e9;
    for (let slot = 0; slot < this.#dstBySlot.length; slot++) {
      const dst = this.#dstBySlot[slot];
      const left = this.#leftBySlot[slot];
      if (dst === undefined || left === undefined) continue;
      if (left === -1) visit(this.#netnsBySlot[slot], dst.address, dst.port);
      else if (left >= recent) visit(this.#netnsBySlot[slot], dst.address, dst.port, left);
    }
  };

  /** The event of a record decoded as an object; `slot`: its socket's id, when the helper decoded it. */
  #toEvent(rec: TracefsRecord, slot?: number): ConnectionEvent | undefined {
    const time = rec.timestampNs / 1e6;
    switch (rec.kind) {
      case "state":
        return this.#stateEvent(rec.timestampNs, rec.tid, rec.sock, slot, rec.oldState, rec.newState, rec.family, rec.saddr, rec.sport, rec.daddr, rec.dport, rec.inInterrupt);
      case "reset":
        return { type: "reset", time, ...this.#keyed(rec.sock, slot, rec.tuple, false) };
      case "retransmit":
        return rec.state === TcpState.SYN_SENT ? { type: "retransmit", time, ...this.#keyed(rec.sock, slot, rec.tuple, false) } : undefined;
      case "exit": {
        // The process is gone when its leader thread (tid == pid) exits, or when
        // the last thread does (group_dead); that may be a thread we never saw.
        const known = this.#cache.knownProcess(rec.tid);
        const info = this.#cache.threadExited(rec.tid, rec.name);
        if (known === undefined && !(rec.groupDead && !info.partial)) return undefined;
        this.#cache.processExited(info.pid);
        this.#raw?.processExited(info.pid);
        return { type: "exit", time, pid: info.pid, name: info.name };
      }
      case "exec":
        this.#cache.execed(rec.pid, rec.oldPid);
        return undefined;
      case "drop": {
        // A SYN is dropped inside the connect() that sent it: the thread's connect of a moment ago.
        const last = rec.inInterrupt ? undefined : this.#lastConnect.get(rec.tid);
        if (!last || rec.timestampNs - last.timeNs > DROP_JOIN_NS) return undefined;
        this.#lastConnect.delete(rec.tid);
        return { type: "drop", time, ...this.#keyed(last.sock, last.slot, undefined, false), reason: rec.reason };
      }
    }
  }
}
