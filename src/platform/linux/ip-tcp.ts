/**
 * The IPv4 or IPv6 and TCP headers at the start of a packet: addresses,
 * ports and flags, as both the capture (raw-capture.ts) and the NFQUEUE
 * queue (nfqueue.ts) hand packets over. Pure.
 */
import { type IpFamily, formatIPv4, formatIPv6 } from "../../core/endpoint.js";

export interface IpTcp {
  family: IpFamily;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, ...). */
  flags: number;
}

/**
 * The headers of the `cap` bytes at `data`, for an IP packet of `family`
 * (from the link layer's ethertype), or of the version its first byte says;
 * undefined when it is not TCP or is cut before the TCP flags.
 */
export function parseIpTcp(buf: Buffer, data: number, cap: number, family?: IpFamily): IpTcp | undefined {
  const version = family ?? (cap > 0 ? buf[data]! >> 4 : 0);
  let tcp: number;
  let saddr: string;
  let daddr: string;
  if (version === 4) {
    if (cap < 20 || buf[data]! >> 4 !== 4 || buf[data + 9] !== 6) return undefined;
    tcp = data + (buf[data]! & 0x0f) * 4;
    saddr = formatIPv4(buf, data + 12);
    daddr = formatIPv4(buf, data + 16);
  } else if (version === 6) {
    if (cap < 40 || buf[data]! >> 4 !== 6 || buf[data + 6] !== 6) return undefined;
    tcp = data + 40;
    saddr = formatIPv6(buf, data + 8);
    daddr = formatIPv6(buf, data + 24);
  } else {
    return undefined;
  }
  if (tcp + 14 > data + cap) return undefined;
  return { family: version, saddr, daddr, sport: buf.readUInt16BE(tcp), dport: buf.readUInt16BE(tcp + 2), flags: buf[tcp + 13]! };
}
