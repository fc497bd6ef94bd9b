/**
 * Parses what the native helper's queue pump hands over (nfqPump take()): the netlink messages of an
 * NFQUEUE queue (nfnetlink_queue), one NFQNL_MSG_PACKET per packet the kernel
 * holds for a verdict, with its id, hook, the socket owner's uid and gid
 * (NFQA_CFG_F_UID_GID) and the packet's first bytes (copy range 128: the IP
 * and TCP headers). Pure: no I/O. Malformed messages are counted, never thrown.
 *
 * Layout (linux/netlink.h, linux/netfilter/nfnetlink*.h; host byte order for
 * netlink headers, network order inside nfnetlink attributes):
 *   nlmsghdr { u32 len, u16 type, u16 flags, u32 seq, u32 pid }
 *   nfgenmsg { u8 family, u8 version, be16 queue }
 *   attributes { u16 len, u16 type, payload, padded to 4 }
 */
import { type IpTcp, parseIpTcp } from "./ip-tcp.js";

const NLMSG_HDRLEN = 16;
const NFGENMSG = 4;
const NLMSG_ERROR = 2;
/** (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET */
const QUEUE_PACKET = (3 << 8) | 0;
const NFQA_PACKET_HDR = 1;
const NFQA_IFINDEX_OUTDEV = 5;
const NFQA_PAYLOAD = 10;
const NFQA_UID = 16;
const NFQA_GID = 17;

/** One packet the kernel holds until we give its verdict: its IP and TCP headers, and what the queue says of it. */
export interface QueuedPacket extends IpTcp {
  /** The id a verdict names. */
  id: number;
  queue: number;
  /** Netfilter hook number (3: LOCAL_OUT, 2: FORWARD). */
  hook: number;
  /** The sending socket's owner, when the packet has a local socket. */
  uid?: number;
  gid?: number;
  outIfindex?: number;
}

export interface ParsedQueue {
  packets: QueuedPacket[];
  /** Netlink errors the kernel sent (e.g. a verdict for an id it no longer holds): their errno values. */
  errors: number[];
  /** Messages too short, or packets not TCP over IPv4/IPv6. Packets with a readable id but no readable headers are in `unreadable`. */
  bad: number;
  /** Ids of held packets whose headers could not be read: the caller accepts them (never hold what we cannot judge). */
  unreadable: number[];
}

/** Parse one batch of queue messages. */
export function parseQueueMessages(buf: Buffer): ParsedQueue {
  const out: ParsedQueue = { packets: [], errors: [], bad: 0, unreadable: [] };
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      out.bad++;
      break;
    }
    const type = buf.readUInt16LE(off + 4);
    if (type === NLMSG_ERROR) {
      if (len >= NLMSG_HDRLEN + 4) {
        const err = buf.readInt32LE(off + NLMSG_HDRLEN);
        if (err !== 0) out.errors.push(-err);
      }
    } else if (type === QUEUE_PACKET && len >= NLMSG_HDRLEN + NFGENMSG) {
      const queue = buf.readUInt16BE(off + NLMSG_HDRLEN + 2);
      const p = parsePacket(buf, off + NLMSG_HDRLEN + NFGENMSG, off + len, queue);
      if (p === undefined) out.bad++;
      else if (typeof p === "number") out.unreadable.push(p);
      else out.packets.push(p);
    } else {
      out.bad++;
    }
    off += (len + 3) & ~3;
  }
  return out;
}

/** The packet, or only its id when its headers cannot be read, or undefined without an id. */
function parsePacket(buf: Buffer, start: number, end: number, queue: number): QueuedPacket | number | undefined {
  let id: number | undefined;
  let hook = 0;
  let uid: number | undefined;
  let gid: number | undefined;
  let outIfindex: number | undefined;
  let payload: [number, number] | undefined;
  for (let a = start; a + 4 <= end; ) {
    const alen = buf.readUInt16LE(a);
    const atype = buf.readUInt16LE(a + 2) & 0x3fff;
    if (alen < 4 || a + alen > end) break;
    const v = a + 4;
    const vlen = alen - 4;
    if (atype === NFQA_PACKET_HDR && vlen >= 7) {
      id = buf.readUInt32BE(v);
      hook = buf[v + 6]!;
    } else if (atype === NFQA_UID && vlen >= 4) uid = buf.readUInt32BE(v);
    else if (atype === NFQA_GID && vlen >= 4) gid = buf.readUInt32BE(v);
    else if (atype === NFQA_IFINDEX_OUTDEV && vlen >= 4) outIfindex = buf.readUInt32BE(v);
    else if (atype === NFQA_PAYLOAD) payload = [v, vlen];
    a += (alen + 3) & ~3;
  }
  if (id === undefined) return undefined;
  const headers = payload ? parseIpTcp(buf, payload[0], payload[1]) : undefined;
  if (!headers) return id;
  return { id, queue, hook, ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }), ...(outIfindex === undefined ? {} : { outIfindex }), ...headers };
}
