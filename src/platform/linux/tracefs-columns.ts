/**
 * Records in columns: how watch's hot path holds the tracefs records it read
 * until the merge releases them, without one JavaScript object per record.
 *
 * The native helper (createStateDecoder) decodes the per-CPU pages straight
 * into these columns: per record a time stamp (ns) and STRIDE int32 fields,
 *
 *   0 kind (KIND_*) | 0x100 when the event ran in interrupt context
 *   1 the running thread (common_pid)
 *   2 the socket's id (state, reset, retransmit): a small integer per kernel
 *     socket address, reused only once that socket has been out of SYN_SENT
 *     for 10 s (see SocketIds in halfopen_native.cc)
 *   3 old state | new state << 8 | family (4 or 6) << 16 (retransmit: its state)
 *   4 source port | destination port << 16
 *   5, 6 the IPv4 source and destination as the kernel stores them
 *   7 the payload's offset in the page buffer of the read
 *
 * The rest (IPv6 addresses, the rare records of other events, a seeded
 * attempt's tuple) the caller decodes at once from the page, while it still
 * holds the bytes, into `extra`. Without the helper, every record is decoded
 * that way (tracefs-decode.ts) and only kind, thread and states go to the
 * columns.
 *
 * The merge (release): each CPU's buffer is in order, but an attempt's end
 * (often on another CPU, in softirq) can be read before its start, so
 * records are released only up to a watermark (a time taken before the
 * read), in time order: nothing released can be overtaken by a record read
 * later. A record the caller holds (a connect of a process not named yet)
 * stops the release there for at most `holdNs` past its time. Pure.
 *
 *   read: cpu0 [a3 a7]  cpu1 [b2 b9]  →  staged [a3 a7 b2 b9]
 *   release(watermark 8) → b2 a3 a7     staged [b9]  (b9 waits for the next read)
 */
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { Endpoint } from "../../core/endpoint.js";
import type { EventField, PageLayout } from "./tracefs-format.js";
import type { TracefsFormats } from "./tracefs-decode.js";

export const STRIDE = 8;
export const KIND_OTHER = 0;
export const KIND_STATE = 1;
export const KIND_RESET = 2;
export const KIND_RETRANSMIT = 3;
export const IN_INTERRUPT = 0x100;

/** The config createStateDecoder takes: the page layout and the offsets of the fields it reads, from the format files. */
export function stateDecoderConfig(formats: TracefsFormats, layout: PageLayout): Int32Array {
  const s = formats.setState;
  const field = (name: string, f = s): EventField => {
    const x = f.fields.get(name);
    if (!x) throw new HalfOpenError(ErrorCodes.BAD_FORMAT, `Cannot decode tracepoint "${f.name}": field "${name}" is missing`);
    return x;
  };
  const triple = (f: EventField) => [f.offset, f.size, f.signed ? 1 : 0];
  const c = [
    layout.timestampOffset,
    layout.commitOffset,
    layout.commitSize,
    layout.dataOffset,
    field("common_type").offset,
    field("common_pid").offset,
    field("common_flags").offset,
    s.id,
    ...["skaddr", "oldstate", "newstate", "sport", "dport", "family"].flatMap((n) => triple(field(n))),
    0,
    0,
    0,
    field("saddr").offset,
    field("daddr").offset,
  ];
  const reset = formats.receiveReset;
  if (reset) c.push(reset.id, field("skaddr", reset).offset, field("skaddr", reset).size);
  else c.push(-1, 0, 0);
  const retransmit = formats.retransmit;
  if (retransmit) c.push(retransmit.id, field("skaddr", retransmit).offset, field("skaddr", retransmit).size, ...triple(field("state", retransmit)));
  else c.push(-1, 0, 0, 0, 0, 0);
  return Int32Array.from(c);
}

/** The records read and not yet released, in columns; `extra` holds what a record's numbers cannot. */
export class RecordColumns<X> {
  ts: Float64Array;
  fields: Int32Array;
  /** By index: what a record's numbers cannot hold (few records have any). */
  extra = new Map<number, X>();
  /** Records staged. */
  count = 0;
  #order = new Int32Array(0);
  /** The other set of columns, for the records left after a release (swapped in). */
  #spareTs: Float64Array;
  #spareFields: Int32Array;

  constructor(capacity = 4096) {
    this.ts = new Float64Array(capacity);
    this.fields = new Int32Array(capacity * STRIDE);
    this.#spareTs = new Float64Array(capacity);
    this.#spareFields = new Int32Array(capacity * STRIDE);
  }

  get capacity(): number {
    return this.ts.length;
  }

  /** Room for `n` more records (the columns double until there is). */
  reserve(n: number): void {
    let size = this.capacity;
    while (size - this.count < n) size *= 2;
    if (size === this.capacity) return;
    const ts = new Float64Array(size);
    ts.set(this.ts.subarray(0, this.count));
    const fields = new Int32Array(size * STRIDE);
    fields.set(this.fields.subarray(0, this.count * STRIDE));
    this.ts = ts;
    this.fields = fields;
    this.#spareTs = new Float64Array(size);
    this.#spareFields = new Int32Array(size * STRIDE);
  }

  /** Stage one record given as numbers (the path without the helper); returns its index. */
  push(ts: number, kind: number, tid: number, sock: number, states: number, extra?: X): number {
    this.reserve(1);
    const i = this.count++;
    this.ts[i] = ts;
    const f = i * STRIDE;
    this.fields[f] = kind;
    this.fields[f + 1] = tid;
    this.fields[f + 2] = sock;
    this.fields[f + 3] = states;
    this.fields.fill(0, f + 4, f + STRIDE);
    if (extra !== undefined) this.setExtra(i, extra);
    return i;
  }

  setExtra(i: number, x: X): void {
    this.extra.set(i, x);
  }

  /**
   * Visit the records at or before `watermark` in time order (Infinity: all, nothing held), then keep the rest. A
   * record `hold` returns true for stops the release while the watermark is less than `holdNs` past it. Returns how
   * many were released.
   */
  release(watermark: number, hold: (i: number) => boolean, holdNs: number, visit: (i: number) => void): number {
    const n = this.count;
    if (n === 0) return 0;
    const ts = this.ts;
    if (this.#order.length < n) this.#order = new Int32Array(this.capacity);
    const order = this.#order.subarray(0, n);
    let sorted = true;
    for (let i = 0; i < n; i++) {
      order[i] = i;
      if (i > 0 && (ts[i] as number) < (ts[i - 1] as number)) sorted = false;
    }
    // Records of one time stamp keep the order they were read in. The comparator answers -1, 0 or 1: a difference of
    // nanosecond stamps is no small integer, and V8 would box each one.
    if (!sorted) order.sort((a, b) => ((ts[a] as number) < (ts[b] as number) ? -1 : (ts[a] as number) > (ts[b] as number) ? 1 : a - b));
    let cut = 0;
    while (cut < n) {
      const i = order[cut] as number;
      const t = ts[i] as number;
      if (t > watermark) break;
      if (watermark !== Number.POSITIVE_INFINITY && watermark - t < holdNs && hold(i)) break;
      cut++;
    }
    for (let k = 0; k < cut; k++) visit(order[k] as number);
    this.#keep(order, cut);
    return cut;
  }

  /** Move the records order[cut..] (in that order) to the front, in the spare columns, and swap. */
  #keep(order: Int32Array, cut: number): void {
    const n = this.count;
    const left = n - cut;
    if (left > 0) {
      const ts = this.#spareTs;
      const fields = this.#spareFields;
      for (let k = 0; k < left; k++) {
        const i = order[cut + k] as number;
        ts[k] = this.ts[i] as number;
        for (let j = 0; j < STRIDE; j++) fields[k * STRIDE + j] = this.fields[i * STRIDE + j] as number;
      }
      this.#spareTs = this.ts;
      this.#spareFields = this.fields;
      this.ts = ts;
      this.fields = fields;
    }
    if (this.extra.size > 0) {
      const extra = new Map<number, X>();
      for (let k = 0; k < left && extra.size < this.extra.size; k++) {
        const x = this.extra.get(order[cut + k] as number);
        if (x !== undefined) extra.set(k, x);
      }
      this.extra = extra;
    }
    this.count = left;
  }
}

/**
 * IPv4 endpoints by the address's 32 bits (as the kernel stores them) and the port: a direct-mapped cache of
 * `slots` (a power of two) in front of `make`, the source's memo that makes each endpoint once. A hit makes no
 * address string and looks nothing up; a miss asks `make` and takes the slot. Ports of one address never collide
 * while `slots` is 65536.
 */
export class Ipv4Endpoints {
  // Empty until the first miss: a watch on an idle host allocates nothing here.
  #bits = new Int32Array(0);
  #ports = new Int32Array(0);
  #values: (Endpoint | undefined)[] = [];
  readonly #mask: number;

  constructor(
    readonly make: (bits: number, port: number) => Endpoint,
    readonly slots: number,
  ) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`Ipv4Endpoints slots must be a power of two, not ${slots}`);
    this.#mask = slots - 1;
  }

  get(bits: number, port: number): Endpoint {
    // The port in the low bits (a flood's ports are consecutive), the address mixed into all of them.
    const i = (port ^ (Math.imul(bits, 0x9e3779b1) >>> 16)) & this.#mask;
    if (this.#ports[i] === port && this.#bits[i] === (bits | 0)) return this.#values[i] as Endpoint;
    if (this.#ports.length === 0) {
      this.#bits = new Int32Array(this.slots);
      this.#ports = new Int32Array(this.slots).fill(-1);
      this.#values = new Array<Endpoint | undefined>(this.slots).fill(undefined);
    }
    const e = this.make(bits, port);
    this.#bits[i] = bits;
    this.#ports[i] = port;
    this.#values[i] = e;
    return e;
  }
}
