/**
 * Decodes binary trace records of the events halfopen enables into typed
 * records, using field offsets from the kernel's own `format` files:
 *   sock:inet_sock_set_state   (Linux 4.16+)  every move into / out of SYN_SENT
 *   tcp:tcp_receive_reset      (Linux 4.17+)  a RST arrived (refused)
 *   tcp:tcp_retransmit_skb     (Linux 4.16+)  SYN retransmitted
 *   sched:sched_process_exit                  a thread / process exited
 *   sched:sched_process_exec                  a process exec'd (new name)
 *   skb:kfree_skb              (Linux 5.17+)  a packet this host dropped, with why
 * Optional events whose format is missing are simply not decoded. Pure.
 */
import { type IpFamily, formatEndpoint, formatIPv4, formatIPv6 } from "../../core/endpoint.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { EventField, EventFormat } from "./tracefs-format.js";

// From include/linux/trace_events.h (enum trace_flag_type): HARDIRQ 0x08, SOFTIRQ 0x10, NMI 0x40.
const TRACE_FLAG_INTERRUPT = 0x08 | 0x10 | 0x40;
// From include/linux/socket.h (AF_INET is 2).
const AF_INET6 = 10;

export type TracefsRecord =
  | {
      kind: "state";
      timestampNs: number;
      /** Thread that was running (the connecting thread for CLOSE -> SYN_SENT). */
      tid: number;
      inInterrupt: boolean;
      sock: string;
      oldState: number;
      newState: number;
      family: IpFamily;
      sport: number;
      dport: number;
      saddr: string;
      daddr: string;
    }
  /** `tuple` ("saddr:sport>daddr:dport", see socketTuple) when the format has the addresses (Linux 4.16+). */
  | { kind: "reset"; timestampNs: number; sock: string; tuple?: string }
  | { kind: "retransmit"; timestampNs: number; sock: string; state: number; tuple?: string }
  | { kind: "exit"; timestampNs: number; tid: number; name: string; groupDead?: boolean }
  | { kind: "exec"; timestampNs: number; pid: number; oldPid: number }
  /** A packet dropped, in the thread `tid` (process context unless `inInterrupt`), for `reason` (the kernel's name). */
  | { kind: "drop"; timestampNs: number; tid: number; inInterrupt: boolean; reason: string };

/** The formats of the events we decode; only `setState` is required. */
export interface TracefsFormats {
  setState: EventFormat;
  receiveReset?: EventFormat;
  retransmit?: EventFormat;
  processExit?: EventFormat;
  processExec?: EventFormat;
  /** skb:kfree_skb with a `reason` field and its names (symbols). */
  kfreeSkb?: EventFormat;
}

type Decode = (buf: Buffer, off: number, ts: number) => TracefsRecord;

function need(format: EventFormat, name: string): EventField {
  const f = format.fields.get(name);
  if (!f) throw new HalfOpenError(ErrorCodes.BAD_FORMAT, `Cannot decode tracepoint "${format.name}": field "${name}" is missing`);
  return f;
}

function readUnsigned(buf: Buffer, off: number, f: EventField): number {
  switch (f.size) {
    case 1:
      return buf.readUInt8(off + f.offset);
    case 2:
      return buf.readUInt16LE(off + f.offset);
    case 4:
      return f.signed ? buf.readInt32LE(off + f.offset) : buf.readUInt32LE(off + f.offset);
    default:
      return Number(buf.readBigUInt64LE(off + f.offset));
  }
}

/** A pointer as a hex string key (no BigInt on the hot path). */
function readPointer(buf: Buffer, off: number, f: EventField): string {
  if (f.size === 4) return buf.readUInt32LE(off + f.offset).toString(16);
  const lo = buf.readUInt32LE(off + f.offset);
  const hi = buf.readUInt32LE(off + f.offset + 4);
  return hi.toString(16) + lo.toString(16).padStart(8, "0");
}

/** Strings a decoder makes again and again (socket addresses, which the kernel's slab reuses; peers' addresses), kept up to `max`. */
class StringCache {
  readonly #map = new Map<number, string>();
  constructor(readonly max = 65_536) {}
  get(key: number): string | undefined {
    return this.#map.get(key);
  }
  set(key: number, value: string): string {
    if (this.#map.size >= this.max) this.#map.clear();
    this.#map.set(key, value);
    return value;
  }
}

/**
 * readPointer through a cache: a 64-bit pointer is a number key (its low 53 bits) when its top 11 bits are those
 * of the first pointer seen (every kernel address shares them), else read uncached: the key is never ambiguous.
 */
function pointerReader(cache: StringCache): (buf: Buffer, off: number, f: EventField) => string {
  let top = -1;
  return (buf, off, f) => {
    if (f.size === 4) {
      const key = buf.readUInt32LE(off + f.offset);
      return cache.get(key) ?? cache.set(key, key.toString(16));
    }
    const lo = buf.readUInt32LE(off + f.offset);
    const hi = buf.readUInt32LE(off + f.offset + 4);
    if (top === -1) top = hi >>> 21;
    if (hi >>> 21 !== top) return readPointer(buf, off, f);
    const key = (hi & 0x1fffff) * 2 ** 32 + lo;
    return cache.get(key) ?? cache.set(key, readPointer(buf, off, f));
  }
}

/** formatIPv4 through a cache keyed by the four bytes as one number. */
function ipv4Reader(cache: StringCache): (buf: Buffer, at: number) => string {
  return (buf, at) => {
    const key = buf.readUInt32LE(at);
    return cache.get(key) ?? cache.set(key, formatIPv4(buf, at));
  };
}

function readCString(buf: Buffer, start: number, max: number): string {
  let end = start;
  while (end < start + max && buf[end] !== 0) end++;
  return buf.toString("utf8", start, end);
}

/**
 * The 4-tuple of a socket as one string, `saddr:sport>daddr:dport` (IPv6
 * addresses in brackets): how an attempt read from the socket table at start
 * is matched to the tracepoint events of its socket.
 */
export function socketTuple(saddr: string, sport: number, daddr: string, dport: number): string {
  return `${formatEndpoint({ address: saddr, port: sport })}>${formatEndpoint({ address: daddr, port: dport })}`;
}

/** Reads the tuple of a tcp:* event that has sport, dport, family and addresses, or undefined when the format lacks them. */
function tupleReader(f: EventFormat): ((buf: Buffer, off: number) => string) | undefined {
  const fields = ["sport", "dport", "family", "saddr", "daddr", "saddr_v6", "daddr_v6"].map((n) => f.fields.get(n));
  if (fields.some((x) => x === undefined)) return undefined;
  const [sport, dport, family, saddr, daddr, saddr6, daddr6] = fields as EventField[];
  return (buf, off) => {
    const fam = readUnsigned(buf, off, family as EventField) === AF_INET6 ? 6 : 4;
    return fam === 4
      ? socketTuple(formatIPv4(buf, off + (saddr as EventField).offset), readUnsigned(buf, off, sport as EventField), formatIPv4(buf, off + (daddr as EventField).offset), readUnsigned(buf, off, dport as EventField))
      : socketTuple(formatIPv6(buf, off + (saddr6 as EventField).offset), readUnsigned(buf, off, sport as EventField), formatIPv6(buf, off + (daddr6 as EventField).offset), readUnsigned(buf, off, dport as EventField));
  };
}

/**
 * Build a decoder for the given formats. The returned function maps a record
 * payload to a TracefsRecord, or undefined for an event type it does not know.
 */
export function makeRecordDecoder(formats: TracefsFormats): (buf: Buffer, off: number, timestampNs: number) => TracefsRecord | undefined {
  const byId = new Map<number, Decode>();
  const s = formats.setState;
  const commonPid = need(s, "common_pid");
  const commonFlags = need(s, "common_flags");
  const [skaddr, oldstate, newstate, sport, dport, family] = ["skaddr", "oldstate", "newstate", "sport", "dport", "family"].map((n) => need(s, n)) as [
    EventField,
    EventField,
    EventField,
    EventField,
    EventField,
    EventField,
  ];
  const [saddr, daddr, saddr6, daddr6] = ["saddr", "daddr", "saddr_v6", "daddr_v6"].map((n) => need(s, n)) as [EventField, EventField, EventField, EventField];
  // The socket's address and the IPv4 addresses recur (the slab reuses sockets, a flood has few peers): made once.
  const pointer = pointerReader(new StringCache());
  const ipv4 = ipv4Reader(new StringCache());
  byId.set(s.id, (buf, off, ts) => {
    const fam = readUnsigned(buf, off, family) === AF_INET6 ? 6 : 4;
    return {
      kind: "state",
      timestampNs: ts,
      tid: buf.readInt32LE(off + commonPid.offset),
      inInterrupt: (buf.readUInt8(off + commonFlags.offset) & TRACE_FLAG_INTERRUPT) !== 0,
      sock: pointer(buf, off, skaddr),
      oldState: readUnsigned(buf, off, oldstate),
      newState: readUnsigned(buf, off, newstate),
      family: fam,
      sport: readUnsigned(buf, off, sport),
      dport: readUnsigned(buf, off, dport),
      saddr: fam === 4 ? ipv4(buf, off + saddr.offset) : formatIPv6(buf, off + saddr6.offset),
      daddr: fam === 4 ? ipv4(buf, off + daddr.offset) : formatIPv6(buf, off + daddr6.offset),
    };
  });
  if (formats.receiveReset) {
    const sk = need(formats.receiveReset, "skaddr");
    const tuple = tupleReader(formats.receiveReset);
    byId.set(formats.receiveReset.id, (buf, off, ts) => {
      const r: TracefsRecord = { kind: "reset", timestampNs: ts, sock: pointer(buf, off, sk) };
      if (tuple) r.tuple = tuple(buf, off);
      return r;
    });
  }
  if (formats.retransmit) {
    const sk = need(formats.retransmit, "skaddr");
    const state = need(formats.retransmit, "state");
    const tuple = tupleReader(formats.retransmit);
    byId.set(formats.retransmit.id, (buf, off, ts) => {
      const r: TracefsRecord = { kind: "retransmit", timestampNs: ts, sock: pointer(buf, off, sk), state: readUnsigned(buf, off, state) };
      if (tuple) r.tuple = tuple(buf, off);
      return r;
    });
  }
  if (formats.processExit) {
    const f = formats.processExit;
    const comm = need(f, "comm");
    const pid = need(f, "pid");
    const groupDead = f.fields.get("group_dead");
    byId.set(f.id, (buf, off, ts) => {
      const r: TracefsRecord = { kind: "exit", timestampNs: ts, tid: readUnsigned(buf, off, pid), name: readCString(buf, off + comm.offset, comm.size) };
      if (groupDead) r.groupDead = buf.readUInt8(off + groupDead.offset) !== 0;
      return r;
    });
  }
  if (formats.processExec) {
    const f = formats.processExec;
    const pid = need(f, "pid");
    const oldPid = need(f, "old_pid");
    byId.set(f.id, (buf, off, ts) => ({ kind: "exec", timestampNs: ts, pid: readUnsigned(buf, off, pid), oldPid: readUnsigned(buf, off, oldPid) }));
  }
  if (formats.kfreeSkb?.symbols) {
    const f = formats.kfreeSkb;
    const reason = need(f, "reason");
    const names = f.symbols as Map<number, string>;
    byId.set(f.id, (buf, off, ts) => {
      const r = readUnsigned(buf, off, reason);
      return { kind: "drop", timestampNs: ts, tid: buf.readInt32LE(off + commonPid.offset), inInterrupt: (buf.readUInt8(off + commonFlags.offset) & TRACE_FLAG_INTERRUPT) !== 0, reason: names.get(r) ?? String(r) };
    });
  }
  const commonType = need(s, "common_type");
  return (buf, off, ts) => byId.get(buf.readUInt16LE(off + commonType.offset))?.(buf, off, ts);
}
