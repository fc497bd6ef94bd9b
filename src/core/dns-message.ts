/**
 * The part of a DNS response halfopen needs: the name asked for and the
 * addresses given for it (A and AAAA records, through any CNAME chain), with
 * their TTLs (RFC 1035 section 4, RFC 3596). Pure; every length and pointer
 * is checked, compression loops are cut, a malformed message is undefined.
 * Names come from whoever answered: treat them as untrusted text.
 */
import { formatIPv4, formatIPv6 } from "./endpoint.js";

export interface DnsAddress {
  /** The name the program asked for (the question), lower case, without the final dot. */
  name: string;
  address: string;
  family: 4 | 6;
  /** Seconds. */
  ttl: number;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
/** A name longer than this (RFC 1035: 255 octets) is malformed. */
const MAX_NAME = 255;

/** Read a (possibly compressed) name at `off`; returns it and the offset after it in the record, or undefined. */
function readName(buf: Buffer, off: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let next = -1;
  let length = 0;
  for (let jumps = 0; jumps < 64; ) {
    if (off >= buf.length) return undefined;
    const len = buf[off]!;
    if (len === 0) {
      return { name: labels.join(".").toLowerCase(), next: next < 0 ? off + 1 : next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) return undefined;
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1]!;
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0 || off + 1 + len > buf.length) return undefined;
    length += len + 1;
    if (length > MAX_NAME) return undefined;
    labels.push(buf.toString("latin1", off + 1, off + 1 + len));
    off += 1 + len;
  }
  return undefined;
}

/** The addresses a DNS response gives for its question, or undefined when it is not a well-formed response. */
export function parseDnsResponse(buf: Buffer): DnsAddress[] | undefined {
  if (buf.length < 12) return undefined;
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return undefined; // a query, not a response
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  if (qd !== 1) return qd === 0 ? [] : undefined;
  let off = 12;
  const q = readName(buf, off);
  if (!q || q.next + 4 > buf.length) return undefined;
  off = q.next + 4;
  // Names that lead to the question's name through CNAMEs.
  const aliases = new Set([q.name]);
  const out: DnsAddress[] = [];
  for (let i = 0; i < an; i++) {
    const owner = readName(buf, off);
    if (!owner || owner.next + 10 > buf.length) return undefined;
    const type = buf.readUInt16BE(owner.next);
    const cls = buf.readUInt16BE(owner.next + 2);
    const ttl = buf.readUInt32BE(owner.next + 4);
    const rdlength = buf.readUInt16BE(owner.next + 8);
    const rdata = owner.next + 10;
    if (rdata + rdlength > buf.length) return undefined;
    off = rdata + rdlength;
    if (cls !== CLASS_IN || !aliases.has(owner.name)) continue;
    if (type === TYPE_A && rdlength === 4) out.push({ name: q.name, address: formatIPv4(buf, rdata), family: 4, ttl });
    else if (type === TYPE_AAAA && rdlength === 16) out.push({ name: q.name, address: formatIPv6(buf, rdata), family: 6, ttl });
    else if (type === 5) {
      const target = readName(buf, rdata);
      if (target) aliases.add(target.name);
    }
  }
  return out;
}
