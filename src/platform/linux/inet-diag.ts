/**
 * Pure parser for a NETLINK_SOCK_DIAG dump of TCP sockets (the inet_diag
 * interface `ss` reads; include/uapi/linux/inet_diag.h), as the native helper
 * returns it: the kernel's netlink messages back to back.
 *
 *   struct nlmsghdr   { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }   16 bytes
 *   struct inet_diag_msg {                                                   72 bytes
 *     u8 family, state, timer, retrans;
 *     struct inet_diag_sockid { be16 sport, dport; be32 src[4], dst[4]; u32 if; u32 cookie[2]; }
 *     u32 expires, rqueue, wqueue, uid, inode;
 *   }
 *
 * Header and trailing u32 fields are in the host's byte order; ports and
 * addresses in network order. Type 20 (SOCK_DIAG_BY_FAMILY) or 18
 * (TCPDIAG_GETSOCK, the answer to a both-families dump) carries a socket,
 * 3 (NLMSG_DONE) ends the dump, 2 (NLMSG_ERROR) carries a negative errno.
 * Rows match what parseProcNetTcp makes of /proc/net/tcp for the same sockets
 * (same keys, states, uid, retransmits, inode); a request socket
 * (TCP_NEW_SYN_RECV) is reported as SYN_RECV there, and so here.
 */
import { type Endpoint, type IpFamily, formatIPv4, formatIPv6 } from "../../core/endpoint.js";
import type { SocketRow } from "../../core/socket-table.js";
import { TcpState } from "../../core/tcp-state.js";
import { socketRow } from "./proc-net-tcp.js";

/** sockDiag's family for both IPv4 and IPv6 in one dump. */
export const BOTH_FAMILIES = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
/** The original request type; the kernel answers it for both families, with messages of the same type. */
const TCPDIAG_GETSOCK = 18;
const HEADER = 16;
const DIAG_MSG = 72;

/** The `idiag_states` bit mask for a set of kernel state numbers. */
export function stateMask(states: readonly number[]): number {
  let mask = 0;
  for (const s of states) mask |= 1 << s;
  return mask >>> 0;
}

/** Every state, request sockets included (what `ss -a` asks for). */
export const ALL_STATES_MASK = 0xffffffff;

export interface InetDiagOptions {
  /** Network namespace the dump was made in; keys and rows carry it. */
  netns?: number;
  /** Byte order of the machine that made the dump. Default: little-endian. */
  littleEndian?: boolean;
}

export interface InetDiagResult {
  rows: SocketRow[];
  /** Messages that were cut short or had an unknown family. */
  badMessages: number;
  /** The kernel's error (positive errno) when the dump ended with NLMSG_ERROR. */
  errno?: number;
  /** True when NLMSG_DONE was seen: the dump is complete. */
  done: boolean;
}

/** What the rows of one dump share: the bytes, and the text of IPv4 addresses made so far. */
class DiagTable {
  readonly v4 = new Map<number, string>();
  constructor(
    readonly data: Uint8Array,
    readonly view: DataView,
    readonly keyPrefix: string,
  ) {}

  /** One end of the socket whose inet_diag_msg starts at `at`: the source (`local`) or the destination. */
  endpoint(family: IpFamily, at: number, local: boolean): Endpoint {
    return { address: this.#address(family, at + (local ? 8 : 24)), port: this.view.getUint16(at + (local ? 4 : 6), false) };
  }

  #address(family: IpFamily, at: number): string {
    if (family === 6) return formatIPv6(this.data, at);
    const a = this.view.getUint32(at, false);
    let t = this.v4.get(a);
    if (t === undefined) this.v4.set(a, (t = formatIPv4(this.data, at)));
    return t;
  }
}

/**
 * A socket of a dump. Plain fields for what every reader of a row looks at;
 * the endpoints and the key are made from the dump's bytes when asked for,
 * so a table of 15,000 sockets is 15,000 small objects, not 60,000 (most of
 * the cost of a one-shot read is the garbage collector copying survivors).
 */
class DiagRow implements SocketRow {
  pid?: number;
  readonly #table: DiagTable;
  /** Offset of the inet_diag_msg in the dump. */
  readonly #at: number;
  readonly family: IpFamily;
  readonly state: number;
  readonly netns: number;
  readonly uid: number;
  readonly retransmits: number;
  readonly inode: number;
  constructor(table: DiagTable, at: number, family: IpFamily, state: number, netns: number, uid: number, retransmits: number, inode: number) {
    this.#table = table;
    this.#at = at;
    this.family = family;
    this.state = state;
    this.netns = netns;
    this.uid = uid;
    this.retransmits = retransmits;
    this.inode = inode;
  }
  get key(): string {
    return this.#table.keyPrefix + this.inode;
  }
  get local(): Endpoint {
    return this.#table.endpoint(this.family, this.#at, true);
  }
  get remote(): Endpoint {
    return this.#table.endpoint(this.family, this.#at, false);
  }
  /** The same fields as a row of /proc/net/tcp, for JSON. */
  toJSON(): SocketRow {
    const { key, family, local, remote, state, uid, retransmits, netns, inode, pid } = this;
    return { key, family, local, remote, state, uid, retransmits, netns, inode, ...(pid === undefined ? {} : { pid }) };
  }
}

export function parseInetDiag(data: Uint8Array, options: InetDiagOptions = {}): InetDiagResult {
  const le = options.littleEndian ?? true;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const ns = options.netns ?? 0;
  const withNetns = options.netns !== undefined;
  const rows: SocketRow[] = [];
  const table = new DiagTable(data, view, `${ns}:`);
  let badMessages = 0;
  let done = false;
  let errno: number | undefined;
  let off = 0;
  while (off + HEADER <= data.byteLength) {
    const len = view.getUint32(off, le);
    const type = view.getUint16(off + 4, le);
    if (len < HEADER || off + len > data.byteLength) {
      badMessages++;
      break;
    }
    if (type === NLMSG_DONE) {
      done = true;
      break;
    }
    if (type === NLMSG_ERROR) {
      const code = len >= HEADER + 4 ? view.getInt32(off + HEADER, le) : -5;
      if (code !== 0) errno = -code;
      done = true;
      break;
    }
    if (type === SOCK_DIAG_BY_FAMILY || type === TCPDIAG_GETSOCK) {
      const m = off + HEADER;
      const family = data[m] as number;
      if (len < HEADER + DIAG_MSG || (family !== AF_INET && family !== AF_INET6)) badMessages++;
      else {
        let state = data[m + 1] as number;
        if (state === TcpState.NEW_SYN_RECV) state = TcpState.SYN_RECV;
        const ipFamily: IpFamily = family === AF_INET ? 4 : 6;
        const uid = view.getUint32(m + 64, le);
        const retransmits = data[m + 3] as number;
        const inode = view.getUint32(m + 68, le);
        if (withNetns && inode !== 0) rows.push(new DiagRow(table, m, ipFamily, state, ns, uid, retransmits, inode));
        else {
          // Rare (TIME_WAIT, orphans, no namespace given): a plain row keyed by its 4-tuple.
          rows.push(
            socketRow(ns, withNetns, {
              family: ipFamily,
              local: table.endpoint(ipFamily, m, true),
              remote: table.endpoint(ipFamily, m, false),
              state,
              retransmits,
              uid,
              inode,
            }),
          );
        }
      }
    }
    off += (len + 3) & ~3;
  }
  const result: InetDiagResult = { rows, badMessages, done };
  if (errno !== undefined) result.errno = errno;
  return result;
}
