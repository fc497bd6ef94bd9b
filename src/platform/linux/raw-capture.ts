/**
 * Parses what the native helper's captureRead returns: one record per TCP
 * packet its kernel filter kept (outgoing SYNs without ACK, incoming
 * SYN-ACKs and RSTs), each a 32-byte header and the packet from its network
 * header, snapped to 128 bytes (native/halfopen_native.cc documents the
 * layout). Pure: no I/O. Malformed records are counted, never thrown.
 */
import { type IpTcp, parseIpTcp } from "./ip-tcp.js";

/** From linux/if_packet.h. */
export const PACKET_OUTGOING = 4;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const HEADER = 32;

export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** One captured TCP packet: its IP and TCP headers, and where and when it was tapped. */
export interface CapturedPacket extends IpTcp {
  /** CLOCK_MONOTONIC, nanoseconds (the kernel's stamp when the packet passed the tap). */
  timeNs: number;
  /** The capture socket it came from: the CPU the packet was tapped on (mod the socket count). */
  cpu: number;
  ifindex: number;
  outgoing: boolean;
  /** Length of the packet from its network header, as the device sent or received it. */
  length: number;
}

export interface ParsedCapture {
  packets: CapturedPacket[];
  /** Records too short or not TCP over IPv4/IPv6 (the kernel filter should have kept none). */
  bad: number;
}

/**
 * Walk the records of a captureRead buffer: `each(off, cap)` parses one (its
 * header at `off`, `cap` bytes of packet after it) and returns it, or
 * undefined when it is not what the capture keeps. A torn last record and
 * the undefined ones are counted as bad.
 */
function walk<T>(buf: Buffer, each: (off: number, cap: number) => T | undefined): { items: T[]; bad: number } {
  const items: T[] = [];
  let bad = 0;
  for (let off = 0; off + HEADER <= buf.length; ) {
    const cap = buf.readUInt16LE(off + 20);
    const next = off + HEADER + ((cap + 7) & ~7);
    if (next > buf.length) {
      bad++;
      break;
    }
    const item = each(off, cap);
    if (item === undefined) bad++;
    else items.push(item);
    off = next;
  }
  return { items, bad };
}

/** Parse one captureRead buffer. */
export function parseCapture(buf: Buffer): ParsedCapture {
  const { items, bad } = walk(buf, (off, cap) => parsePacket(buf, off, cap));
  return { packets: items, bad };
}

function parsePacket(buf: Buffer, off: number, cap: number): CapturedPacket | undefined {
  const proto = buf.readUInt16LE(off + 16);
  const family = proto === ETH_P_IP ? 4 : proto === ETH_P_IPV6 ? 6 : undefined;
  if (family === undefined) return undefined;
  const h = parseIpTcp(buf, off + HEADER, cap, family);
  if (!h) return undefined;
  return {
    timeNs: buf.readDoubleLE(off),
    cpu: buf.readUInt32LE(off + 8),
    ifindex: buf.readInt32LE(off + 12),
    outgoing: buf[off + 18] === PACKET_OUTGOING,
    ...h,
    length: buf.readUInt32LE(off + 24),
  };
}

/** Build a captureRead record (tests and fixtures): the inverse of parseCapture for one packet. */
export function encodeCaptureRecord(p: { timeNs: number; cpu: number; ifindex: number; outgoing: boolean; packet: Buffer }): Buffer {
  const cap = Math.min(p.packet.length, 128);
  const out = Buffer.alloc(HEADER + ((cap + 7) & ~7));
  out.writeDoubleLE(p.timeNs, 0);
  out.writeUInt32LE(p.cpu, 8);
  out.writeInt32LE(p.ifindex, 12);
  out.writeUInt16LE(p.packet[0]! >> 4 === 6 ? ETH_P_IPV6 : ETH_P_IP, 16);
  out[18] = p.outgoing ? PACKET_OUTGOING : 0;
  out.writeUInt16LE(cap, 20);
  out.writeUInt32LE(p.packet.length, 24);
  p.packet.copy(out, HEADER, 0, cap);
  return out;
}

/** One captured UDP datagram (the DNS capture's records): when, and its payload. */
export interface CapturedDatagram {
  timeNs: number;
  sport: number;
  payload: Buffer;
}

/** Parse a captureRead buffer of UDP packets (kind 1: DNS answers); records that are not whole UDP datagrams are counted. */
export function parseDatagrams(buf: Buffer): { datagrams: CapturedDatagram[]; bad: number } {
  const { items, bad } = walk(buf, (off, cap): CapturedDatagram | undefined => {
    const proto = buf.readUInt16LE(off + 16);
    const data = off + HEADER;
    let udp = -1;
    if (proto === ETH_P_IP && cap >= 20 && buf[data]! >> 4 === 4 && buf[data + 9] === 17) udp = data + (buf[data]! & 0x0f) * 4;
    else if (proto === ETH_P_IPV6 && cap >= 48 && buf[data]! >> 4 === 6 && buf[data + 6] === 17) udp = data + 40;
    const end = data + cap;
    if (udp < 0 || udp + 8 > end) return undefined;
    const length = buf.readUInt16BE(udp + 4);
    // A datagram cut by the snap length is parsed as far as it goes (the DNS parser checks every bound).
    return { timeNs: buf.readDoubleLE(off), sport: buf.readUInt16BE(udp), payload: buf.subarray(udp + 8, Math.min(end, udp + Math.max(8, length))) };
  });
  return { datagrams: items, bad };
}
