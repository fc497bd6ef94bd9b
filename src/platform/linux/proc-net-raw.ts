/**
 * Pure parsers for /proc/net/raw, /proc/net/raw6 (net/ipv4/raw.c
 * raw_sock_seq_show: the "local port" column is the socket's IP protocol)
 * and /proc/net/packet (net/packet/af_packet.c packet_seq_show: `sk RefCnt
 * Type Proto Iface R Rmem User Inode`, Type 2 SOCK_DGRAM or 3 SOCK_RAW, Proto
 * the ethertype in hex), and which of those sockets can put a TCP SYN on the
 * wire without connect(): the senders `nmap -sS`, masscan, zmap, hping3 and
 * Mirai-style worms use, which leave no SYN_SENT socket behind.
 *
 * Can send TCP: a raw socket of protocol TCP (6) or IPPROTO_RAW (255, its
 * own IP header), IPv4 or IPv6; every packet socket (it writes whole frames;
 * its protocol only chooses what it receives, 0 receiving nothing). Not
 * listed: raw sockets of other protocols (ICMP: `ping`; VRRP: keepalived);
 * caveat: an IPv4 raw socket of another protocol with IP_HDRINCL set can
 * write a TCP header too, and /proc does not show the option.
 */

export interface RawSocketRow {
  /** "raw" (AF_INET/AF_INET6, SOCK_RAW) or "packet" (AF_PACKET). */
  kind: "raw" | "packet";
  /** 4 or 6 for raw sockets; undefined for packet sockets. */
  family?: 4 | 6;
  /** IP protocol (raw), or ethertype (packet). */
  protocol: number;
  /** SOCK_RAW or SOCK_DGRAM (packet sockets). */
  socketType?: "raw" | "dgram";
  inode: number;
  uid: number;
  /** Can this socket send a TCP SYN. */
  canSendTcp: boolean;
  /** What it is, for people: "raw ip (IPPROTO_RAW)", "raw6 tcp", "packet raw (all protocols)". */
  label: string;
}

export interface ParsedRawTable {
  rows: RawSocketRow[];
  badLines: number;
}

const IP_PROTOCOLS: Record<number, string> = { 1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 112: "vrrp", 255: "ip (IPPROTO_RAW)" };
const ETHERTYPES: Record<number, string> = { 0: "send only", 3: "all protocols", 0x0800: "ipv4", 0x0806: "arp", 0x86dd: "ipv6" };

/** /proc/net/raw or raw6: `sl local:proto rem st tx:rx tr:when retrnsmt uid timeout inode ...`. */
export function parseProcNetRaw(text: string, family: 4 | 6): ParsedRawTable {
  const rows: RawSocketRow[] = [];
  let badLines = 0;
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[0] === "") {
      if (line.trim() !== "") badLines++;
      continue;
    }
    const protocol = Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!Number.isInteger(protocol) || !Number.isInteger(uid) || !Number.isInteger(inode) || inode <= 0) {
      badLines++;
      continue;
    }
    const canSendTcp = protocol === 6 || protocol === 255;
    const name = IP_PROTOCOLS[protocol] ?? `protocol ${protocol}`;
    rows.push({ kind: "raw", family, protocol, inode, uid, canSendTcp, label: `${family === 6 ? "raw6" : "raw"} ${name}` });
  }
  return { rows, badLines };
}

/** /proc/net/packet: `sk RefCnt Type Proto Iface R Rmem User Inode`. */
export function parseProcNetPacket(text: string): ParsedRawTable {
  const rows: RawSocketRow[] = [];
  let badLines = 0;
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 9 || f[0] === "") {
      if (line.trim() !== "") badLines++;
      continue;
    }
    const type = Number(f[2]);
    const protocol = Number.parseInt(f[3] ?? "", 16);
    const uid = Number(f[7]);
    const inode = Number(f[8]);
    if ((type !== 2 && type !== 3) || !Number.isInteger(protocol) || !Number.isInteger(uid) || !Number.isInteger(inode) || inode <= 0) {
      badLines++;
      continue;
    }
    const socketType = type === 3 ? "raw" : "dgram";
    const name = ETHERTYPES[protocol] ?? `ethertype 0x${protocol.toString(16).padStart(4, "0")}`;
    rows.push({ kind: "packet", protocol, socketType, inode, uid, canSendTcp: true, label: `packet ${socketType} (${name})` });
  }
  return { rows, badLines };
}
