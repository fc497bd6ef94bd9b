/**
 * RawJoin: who sent each SYN that no connect() made. Pure (no I/O, no clock:
 * every time is given).
 *
 * Two streams meet here:
 *   - "what was sent": TCP SYNs (without ACK) captured leaving each network
 *     namespace where a raw or packet socket is open, and the SYN-ACKs and
 *     RSTs coming back (raw-capture.ts), each with the CPU it was tapped on;
 *   - "who sent": the sends of the processes that hold such sockets
 *     (tracepoint sock:sock_send_length, kernel-filtered to their threads),
 *     each with its thread and CPU.
 * A raw or packet send hands the packet to the device inside the send call,
 * on the sending CPU, and the tracepoint fires as that call returns: so a
 * SYN tapped on CPU c at time t was sent by the first tracked send on CPU c
 * at or after t (within `windowNs`). Several raw senders at once are told
 * apart by CPU and time, not guessed. A SYN with no such send is the
 * kernel's own (a connect() in progress to that address and port: skipped),
 * or, when it was tapped in the first moments of exactly one holder in that
 * namespace (before that holder's threads were traced: `inferable`), that
 * one's (`inferred`). Else, when every holder there is traced, a sender
 * preempted between the tap and its send's return (on a busy host it can
 * return more than `windowNs` later, or on another CPU) is found by its send
 * on any CPU within LATE_NS either side, when exactly one holder there sent
 * anything then. Otherwise it is counted as unattributed, with the
 * candidates, and never given to anyone.
 *
 * An attributed SYN is an attempt (a ConnectEvent with `via`); the same
 * 4-tuple again while it is pending is a retransmission. It ends when a
 * SYN-ACK (established) or RST (refused) comes back, or as "timeout" when
 * nothing does within `answerMs`: it holds no local slot, but it is half-open
 * at the peer and in every stateful box on the way until then.
 */
import type { ConnectionEvent, ProcessInfo } from "../../core/events.js";
import { TcpState } from "../../core/tcp-state.js";
import { type CapturedPacket, TCP_ACK, TCP_RST, TCP_SYN } from "./raw-capture.js";

export type RawVia = "raw" | "packet";

/** A SYN no send on its CPU claimed is its holder's when that holder alone sent anything this close to it, on any CPU. */
const LATE_NS = 10e6;

/** A process holding a raw or packet socket that can send TCP. */
export interface RawHolder {
  process: ProcessInfo;
  netns: number;
  via: RawVia;
}

/** One send by a tracked thread (sock:sock_send_length). */
export interface TrackedSend {
  timeNs: number;
  cpu: number;
  tid: number;
}

export interface RawJoinOptions {
  /** A SYN belongs to the first send on its CPU this soon after it. Default 1 ms. */
  windowNs?: number;
  /** An unanswered raw SYN ends as "timeout" after this long. Default 3000 ms. */
  answerMs?: number;
  /** Pending raw attempts kept; past this the oldest end as "unknown". Default 262144. */
  maxPending?: number;
}

/** Raw SYNs that could not be given to one process. */
export interface Unattributed {
  netns: number;
  count: number;
  /** Pids holding raw or packet sockets in that namespace then. */
  candidates: number[];
}

interface Pending {
  sock: string;
  startNs: number;
}

interface PacketIn {
  netns: number;
  p: CapturedPacket;
}

/** Per-process counts, for the source's details. */
export interface RawSenderStats {
  pid: number;
  name: string;
  via: RawVia;
  syns: number;
  inferred: number;
}

const AF6 = 6;

/** The namespace key of kernel connects whose namespace is not known (namespace ids are inode numbers: never -1). */
const UNKNOWN_NETNS = -1;

interface KernelDestination {
  inProgress: number;
  endedNs: number;
}

function tupleKey(netns: number, p: CapturedPacket, reverse: boolean): string {
  return reverse ? `${netns}|${p.daddr}|${p.dport}|${p.saddr}|${p.sport}` : `${netns}|${p.saddr}|${p.sport}|${p.daddr}|${p.dport}`;
}

export class RawJoin {
  readonly windowNs: number;
  readonly answerNs: number;
  readonly maxPending: number;
  /** Tracked thread -> its holder's pid. */
  readonly #threads = new Map<number, number>();
  /** pid -> holder. */
  readonly #holders = new Map<number, RawHolder>();
  /** Sends per CPU, in time order. */
  readonly #sends = new Map<number, TrackedSend[]>();
  #packets: PacketIn[] = [];
  /**
   * Kernel connects by network namespace, then destination (address, then port): how many are in progress, and when
   * one last ended (its SYN may still be waiting here). Kept while one is in progress or ended within a second. A
   * connect whose namespace is unknown (its process was gone before /proc could be read) is kept under
   * UNKNOWN_NETNS and hides a raw SYN to its destination in every namespace. Small maps, the last one kept at hand:
   * every attempt on the host passes here.
   */
  readonly #kernel = new Map<number, Map<string, Map<number, KernelDestination>>>();
  #kernelPrunedNs = Number.NEGATIVE_INFINITY;
  readonly #pending = new Map<string, Pending>();
  readonly #stats = new Map<number, RawSenderStats>();
  #unattributed = new Map<number, Unattributed>();
  #seq = 0;
  /**
   * May an untraced SYN at this time be given to this holder, when it is the
   * only such holder in its namespace? The tracer allows it in a holder's
   * first moments, before its threads' sends are traced. Default: never.
   */
  inferable: (pid: number, timeNs: number) => boolean = () => false;

  constructor(options: RawJoinOptions = {}) {
    this.windowNs = options.windowNs ?? 1e6;
    this.answerNs = (options.answerMs ?? 3000) * 1e6;
    this.maxPending = options.maxPending ?? 262_144;
  }

  get holders(): number {
    return this.#holders.size;
  }

  get pending(): number {
    return this.#pending.size;
  }

  holderPids(): number[] {
    return [...this.#holders.keys()];
  }

  holdersIn(netns: number): RawHolder[] {
    return [...this.#holders.values()].filter((h) => h.netns === netns);
  }

  /** A process that holds a raw or packet socket (again: its details are updated). */
  addHolder(h: RawHolder): void {
    const old = this.#holders.get(h.process.pid);
    // A process with both kinds is reported by the first one seen.
    this.#holders.set(h.process.pid, old ? { ...h, via: old.via } : h);
    this.#threads.set(h.process.pid, h.process.pid);
  }

  addThread(tid: number, pid: number): void {
    if (this.#holders.has(pid)) this.#threads.set(tid, pid);
  }

  /** The process is gone: its later packets (none) and its threads are forgotten. */
  removeHolder(pid: number): void {
    this.#holders.delete(pid);
    for (const [tid, owner] of this.#threads) if (owner === pid) this.#threads.delete(tid);
  }

  /** Pid of a tracked thread. */
  pidOf(tid: number): number | undefined {
    return this.#threads.get(tid);
  }

  send(s: TrackedSend): void {
    const list = this.#sends.get(s.cpu);
    if (list) list.push(s);
    else this.#sends.set(s.cpu, [s]);
  }

  packets(netns: number, packets: CapturedPacket[]): void {
    for (const p of packets) this.#packets.push({ netns, p });
  }

  /** The ports of an address in a namespace (made when missing); the last pair's kept at hand (a flood has few). */
  #portsOf(netns: number, daddr: string): Map<number, KernelDestination> {
    if (daddr === this.#lastAddress && netns === this.#lastNetns && this.#lastPorts) return this.#lastPorts;
    let addresses = this.#kernel.get(netns);
    if (addresses === undefined) {
      addresses = new Map();
      this.#kernel.set(netns, addresses);
    }
    let ports = addresses.get(daddr);
    if (ports === undefined) {
      ports = new Map();
      addresses.set(daddr, ports);
    }
    this.#lastNetns = netns;
    this.#lastAddress = daddr;
    this.#lastPorts = ports;
    return ports;
  }

  #lastNetns?: number;
  #lastAddress?: string;
  #lastPorts?: Map<number, KernelDestination>;

  /**
   * A connect() entered SYN_SENT (family 4 or 6) in network namespace `netns` (undefined: not known): its SYN leaves
   * through the same taps, and must not be taken for a raw sender's.
   */
  kernelConnect(netns: number | undefined, daddr: string, dport: number): void {
    const ports = this.#portsOf(netns ?? UNKNOWN_NETNS, daddr);
    const d = ports.get(dport);
    if (d) d.inProgress++;
    else ports.set(dport, { inProgress: 1, endedNs: Number.NEGATIVE_INFINITY });
  }

  /** That connect left SYN_SENT; `netns` as its kernelConnect had it. */
  kernelLeave(netns: number | undefined, daddr: string, dport: number, timeNs: number): void {
    const ports = this.#portsOf(netns ?? UNKNOWN_NETNS, daddr);
    const d = ports.get(dport);
    if (d) {
      if (d.inProgress > 0) d.inProgress--;
      d.endedNs = timeNs;
    } else ports.set(dport, { inProgress: 0, endedNs: timeNs });
    // Pruned here too, not only on release: with no raw sender around nothing releases, and a connect scan would
    // otherwise leave an entry per destination behind.
    if (timeNs - this.#kernelPrunedNs > 1e9) this.#pruneKernel(timeNs);
  }

  /** Forget every kernel connect (before they are told again from the start: RawSenderTracer, when a capture opens). */
  clearKernel(): void {
    this.#kernel.clear();
    this.#lastNetns = undefined;
    this.#lastAddress = undefined;
    this.#lastPorts = undefined;
  }

  /** Is a kernel connect to the packet's destination in progress (or just ended) in its namespace, or in an unknown one? */
  #kernelSent(netns: number, p: CapturedPacket): boolean {
    return this.#kernel.get(netns)?.get(p.daddr)?.has(p.dport) === true || this.#kernel.get(UNKNOWN_NETNS)?.get(p.daddr)?.has(p.dport) === true;
  }

  /** Destinations of kernel connects kept (in progress or ended within a second). */
  get kernelDestinations(): number {
    let n = 0;
    for (const addresses of this.#kernel.values()) for (const ports of addresses.values()) n += ports.size;
    return n;
  }

  /**
   * Join what is older than `watermarkNs` (every send that could claim it has
   * been read) and end the attempts unanswered past `answerMs` at `nowNs`.
   */
  release(watermarkNs: number, nowNs: number): ConnectionEvent[] {
    const out: ConnectionEvent[] = [];
    const ready: PacketIn[] = [];
    const rest: PacketIn[] = [];
    for (const x of this.#packets) (x.p.timeNs + this.windowNs <= watermarkNs ? ready : rest).push(x);
    this.#packets = rest;
    ready.sort((a, b) => a.p.timeNs - b.p.timeNs);
    for (const x of ready) {
      if (x.p.outgoing) this.#outgoing(x, out);
      else this.#incoming(x, out);
    }
    this.#prune(watermarkNs);
    this.#expire(nowNs, out);
    return out;
  }

  /** Raw SYNs given to nobody since the last call. */
  takeUnattributed(): Unattributed[] {
    const u = [...this.#unattributed.values()];
    this.#unattributed = new Map();
    return u;
  }

  stats(): RawSenderStats[] {
    return [...this.#stats.values()];
  }

  #outgoing({ netns, p }: PacketIn, out: ConnectionEvent[]): void {
    if ((p.flags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return;
    // A connect() in progress to the same address and port in this namespace: the kernel's SYN (or its retransmission).
    if (this.#kernelSent(netns, p)) return;
    let holder = this.#claim(netns, p);
    let inferred = false;
    if (!holder) {
      const here = this.holdersIn(netns);
      const able = here.filter((h) => this.inferable(h.process.pid, p.timeNs));
      if (able.length === 1) {
        holder = able[0];
        inferred = true;
      } else if (able.length === 0) holder = this.#lateClaim(netns, p);
      if (!holder) {
        const u = this.#unattributed.get(netns) ?? { netns, count: 0, candidates: here.map((h) => h.process.pid).sort((a, b) => a - b) };
        u.count++;
        this.#unattributed.set(netns, u);
        return;
      }
    }
    if (!holder) return;
    const stats = this.#stats.get(holder.process.pid) ?? { pid: holder.process.pid, name: holder.process.name, via: holder.via, syns: 0, inferred: 0 };
    stats.syns++;
    if (inferred) stats.inferred++;
    this.#stats.set(holder.process.pid, stats);
    const key = tupleKey(netns, p, false);
    const time = p.timeNs / 1e6;
    const seen = this.#pending.get(key);
    if (seen) {
      out.push({ type: "retransmit", time, sock: seen.sock });
      return;
    }
    if (this.#pending.size >= this.maxPending) {
      const [oldestKey, oldest] = this.#pending.entries().next().value as [string, Pending];
      this.#pending.delete(oldestKey);
      out.push({ type: "leave", time, sock: oldest.sock, newState: TcpState.CLOSE, inInterrupt: true, vanished: true });
    }
    const sock = `${holder.via}:${++this.#seq}`;
    this.#pending.set(key, { sock, startNs: p.timeNs });
    out.push({
      type: "connect",
      time,
      sock,
      pid: holder.process.pid,
      family: p.family === AF6 ? 6 : 4,
      src: { address: p.saddr, port: p.sport },
      dst: { address: p.daddr, port: p.dport },
      process: holder.process,
      via: holder.via,
    });
  }

  /** The holder whose thread's send on the packet's CPU follows it within the window. */
  #claim(netns: number, p: CapturedPacket): RawHolder | undefined {
    const list = this.#sends.get(p.cpu);
    if (!list || list.length === 0) return undefined;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.timeNs < p.timeNs) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length; i++) {
      const s = list[i]!;
      if (s.timeNs - p.timeNs > this.windowNs) break;
      const holder = this.#holderIn(netns, s.tid);
      if (holder) return holder;
    }
    return undefined;
  }

  /** The holder in `netns` whose thread `tid` is, if any. */
  #holderIn(netns: number, tid: number): RawHolder | undefined {
    const pid = this.#threads.get(tid);
    const holder = pid === undefined ? undefined : this.#holders.get(pid);
    return holder?.netns === netns ? holder : undefined;
  }

  /** The one holder in `netns` whose threads sent anything within LATE_NS of the packet, on any CPU; undefined when none or several did. */
  #lateClaim(netns: number, p: CapturedPacket): RawHolder | undefined {
    let found: RawHolder | undefined;
    for (const list of this.#sends.values()) {
      for (const s of list) {
        if (s.timeNs < p.timeNs - LATE_NS) continue;
        if (s.timeNs > p.timeNs + LATE_NS) break;
        const holder = this.#holderIn(netns, s.tid);
        if (!holder) continue;
        if (found && found !== holder) return undefined;
        found = holder;
      }
    }
    return found;
  }

  #incoming({ netns, p }: PacketIn, out: ConnectionEvent[]): void {
    const key = tupleKey(netns, p, true);
    const attempt = this.#pending.get(key);
    if (!attempt) return;
    const time = p.timeNs / 1e6;
    if (p.flags & TCP_RST) {
      this.#pending.delete(key);
      out.push({ type: "reset", time, sock: attempt.sock });
      out.push({ type: "leave", time, sock: attempt.sock, newState: TcpState.CLOSE, inInterrupt: true });
    } else if ((p.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
      this.#pending.delete(key);
      out.push({ type: "leave", time, sock: attempt.sock, newState: TcpState.ESTABLISHED, inInterrupt: true });
    }
  }

  /** Forget sends no packet can claim any more, and kernel connects ended long ago. */
  #prune(watermarkNs: number): void {
    const oldest = this.#packets.reduce((m, x) => Math.min(m, x.p.timeNs), watermarkNs);
    for (const [cpu, list] of this.#sends) {
      let i = 0;
      while (i < list.length && list[i]!.timeNs < oldest - Math.max(this.windowNs, LATE_NS)) i++;
      if (i === list.length) this.#sends.delete(cpu);
      else if (i > 0) list.splice(0, i);
    }
    this.#pruneKernel(watermarkNs);
  }

  #pruneKernel(nowNs: number): void {
    this.#kernelPrunedNs = nowNs;
    for (const [netns, addresses] of this.#kernel) {
      for (const [address, ports] of addresses) {
        for (const [port, d] of ports) if (d.inProgress === 0 && d.endedNs < nowNs - 1e9) ports.delete(port);
        if (ports.size === 0) addresses.delete(address);
      }
      if (addresses.size === 0) this.#kernel.delete(netns);
    }
    this.#lastNetns = undefined;
    this.#lastAddress = undefined;
    this.#lastPorts = undefined;
  }

  #expire(nowNs: number, out: ConnectionEvent[]): void {
    for (const [key, a] of this.#pending) {
      // Insertion order is start order: the first young one ends the walk.
      if (nowNs - a.startNs < this.answerNs) break;
      this.#pending.delete(key);
      out.push({ type: "leave", time: (a.startNs + this.answerNs) / 1e6, sock: a.sock, newState: TcpState.CLOSE, inInterrupt: true });
    }
  }
}
