/**
 * Scan targets and ports, as the user writes them, parsed and walked lazily.
 * Pure: host names are returned as names; the scanner resolves them (once)
 * and hands back addresses.
 *
 *   "198.18.0.0/22"   "198.18.0.1-40"   "198.18.0.1-198.18.1.7"   "::1"   "fd00::/120"
 *   "fd00::1-fd00::ff"   "router.lan"                   ─ parseTarget ─►  AddressRange | { name }
 *   targets − excludes, merged per family                ─ TargetSet ─►  count(), addresses({ shard })
 *
 * A TargetSet never materialises its addresses: it holds disjoint, sorted
 * ranges of BigInts and walks them. Walk order is IPv4 then IPv6, each in
 * address order (duplicates and overlaps removed).
 */
import ipaddr from "ipaddr.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { excerpt } from "../process-text.js";

export type Family = 4 | 6;

export interface AddressRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export type TargetSpec = { kind: "range"; range: AddressRange; text: string } | { kind: "name"; name: string; text: string };

const bad = (why: string) => new HalfOpenError(ErrorCodes.BAD_TARGET, why);

function toBig(bytes: number[]): bigint {
  return bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

export function addressToBigInt(text: string): { family: Family; value: bigint } | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  // ipaddr.js accepts shorthand IPv4 ("10.1", "0x0a000001"): only four decimal parts count as an address here.
  if (!text.includes(":") && !/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return undefined;
  const a = ipaddr.parse(text);
  if (a.kind() === "ipv6" && (a as ipaddr.IPv6).zoneId) return undefined;
  return { family: a.kind() === "ipv4" ? 4 : 6, value: toBig(a.toByteArray()) };
}

export function formatAddress(family: Family, value: bigint): string {
  const n = family === 4 ? 4 : 16;
  const bytes = new Array<number>(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return family === 4 ? bytes.join(".") : ipaddr.fromByteArray(bytes).toString();
}

const bits = (family: Family) => (family === 4 ? 32 : 128);

/** RFC 1123 host names (labels of letters, digits and hyphens). */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** One target as written: an address, CIDR, range, or host name. Throws HalfOpenError BAD_TARGET. */
export function parseTarget(input: string): TargetSpec {
  const text = input.trim();
  if (text === "") throw bad("Cannot scan an empty target");
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const base = addressToBigInt(text.slice(0, slash));
    const prefixText = text.slice(slash + 1);
    if (!base) throw bad(`Cannot scan "${excerpt(text, 100)}": "${text.slice(0, slash)}" is not an IP address`);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > bits(base.family)) throw bad(`Cannot scan "${excerpt(text, 100)}": the prefix must be 0 to ${bits(base.family)}`);
    const hostBits = BigInt(bits(base.family) - prefix);
    const first = (base.value >> hostBits) << hostBits;
    return { kind: "range", range: { family: base.family, first, last: first + (1n << hostBits) - 1n }, text };
  }
  const dash = text.indexOf("-");
  const single = addressToBigInt(text);
  if (single) return { kind: "range", range: { family: single.family, first: single.value, last: single.value }, text };
  if (dash > 0) {
    const left = text.slice(0, dash);
    const right = text.slice(dash + 1);
    const from = addressToBigInt(left);
    if (from) {
      let to: bigint | undefined;
      const full = addressToBigInt(right);
      if (full) {
        if (full.family !== from.family) throw bad(`Cannot scan "${excerpt(text, 100)}": the range mixes IPv4 and IPv6`);
        to = full.value;
      } else if (from.family === 4 && /^\d{1,3}$/.test(right)) {
        const last = Number(right);
        if (last > 255) throw bad(`Cannot scan "${excerpt(text, 100)}": ${right} is not an octet (0-255)`);
        to = (from.value & ~0xffn) | BigInt(last);
      } else {
        throw bad(`Cannot scan "${excerpt(text, 100)}": "${right}" must be a last octet (0-255) or a whole address`);
      }
      if (to < from.value) throw bad(`Cannot scan "${excerpt(text, 100)}": the range ends before it starts`);
      return { kind: "range", range: { family: from.family, first: from.value, last: to }, text };
    }
  }
  if (/^[\d.]+$/.test(text) || text.includes(":")) throw bad(`Cannot scan "${excerpt(text, 100)}": not an IP address, CIDR block, range or host name`);
  if (!HOST_NAME.test(text)) throw bad(`Cannot scan "${excerpt(text, 100)}": not an IP address, CIDR block, range or host name`);
  return { kind: "name", name: text.replace(/\.$/, ""), text };
}

/** IPv4-mapped IPv6 addresses (::ffff:0:0/96, RFC 4291 2.5.5.2) are the IPv4 ones: a range over them becomes its IPv4 part, so `--exclude 198.18.0.1` excludes `::ffff:198.18.0.1` too. */
const MAPPED_FIRST = 0xffffn << 32n;
const MAPPED_LAST = MAPPED_FIRST + 0xffffffffn;
function unmapped(ranges: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  for (const r of ranges) {
    if (r.family !== 6 || r.last < MAPPED_FIRST || r.first > MAPPED_LAST) {
      out.push(r);
      continue;
    }
    if (r.first < MAPPED_FIRST) out.push({ family: 6, first: r.first, last: MAPPED_FIRST - 1n });
    const first = r.first > MAPPED_FIRST ? r.first : MAPPED_FIRST;
    const last = r.last < MAPPED_LAST ? r.last : MAPPED_LAST;
    out.push({ family: 4, first: first - MAPPED_FIRST, last: last - MAPPED_FIRST });
    if (r.last > MAPPED_LAST) out.push({ family: 6, first: MAPPED_LAST + 1n, last: r.last });
  }
  return out;
}

/** Sorted, merged, per family. */
function normalize(ranges: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.family === r.family && r.first <= prev.last + 1n) {
      if (r.last > prev.last) prev.last = r.last;
    } else out.push({ ...r });
  }
  return out;
}

/** `ranges` without `minus` (both normalized). */
function subtract(ranges: AddressRange[], minus: AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  for (const r of ranges) {
    let pieces: AddressRange[] = [r];
    for (const m of minus) {
      if (m.family !== r.family) continue;
      const next: AddressRange[] = [];
      for (const p of pieces) {
        if (m.last < p.first || m.first > p.last) {
          next.push(p);
          continue;
        }
        if (m.first > p.first) next.push({ family: p.family, first: p.first, last: m.first - 1n });
        if (m.last < p.last) next.push({ family: p.family, first: m.last + 1n, last: p.last });
      }
      pieces = next;
    }
    out.push(...pieces);
  }
  return out;
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** Parses "k/n" (1 ≤ k ≤ n). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count || count > 1_000_000) throw bad(`Cannot use shard "${text}": expected k/n with 1 ≤ k ≤ n, e.g. 2/3`);
  return { index, count };
}

/** The addresses to scan: targets minus excludes, walked lazily. */
export class TargetSet {
  readonly ranges: readonly AddressRange[];

  constructor(targets: readonly AddressRange[], excludes: readonly AddressRange[] = []) {
    this.ranges = subtract(normalize(unmapped(targets)), normalize(unmapped(excludes)));
  }

  /** How many addresses (all shards). */
  count(): bigint {
    return this.ranges.reduce((n, r) => n + (r.last - r.first + 1n), 0n);
  }

  /** Addresses in shard k of n get every n-th address starting at the k-th: the shards' union is the whole set, and they never overlap. */
  *addresses(shard?: Shard): Generator<{ family: Family; address: string; index: bigint }> {
    const n = BigInt(shard?.count ?? 1);
    const k = BigInt((shard?.index ?? 1) - 1);
    let index = 0n;
    for (const r of this.ranges) {
      const size = r.last - r.first + 1n;
      // The first index in this range that belongs to the shard.
      let offset = (((k - index) % n) + n) % n;
      while (offset < size) {
        yield { family: r.family, address: formatAddress(r.family, r.first + offset), index: index + offset };
        offset += n;
      }
      index += size;
    }
  }

  #starts?: bigint[];

  /** True when `address` is in the set (and in shard k of n, when given). Binary search over the sorted ranges. */
  includes(address: string, shard?: Shard): boolean {
    const parsed = addressToBigInt(address);
    if (!parsed) return false;
    const one = unmapped([{ family: parsed.family, first: parsed.value, last: parsed.value }])[0] as AddressRange;
    const a = { family: one.family, value: one.first };
    if (!this.#starts) {
      let index = 0n;
      this.#starts = this.ranges.map((r) => {
        const at = index;
        index += r.last - r.first + 1n;
        return at;
      });
    }
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid] as AddressRange;
      if (r.family < a.family || (r.family === a.family && r.last < a.value)) lo = mid + 1;
      else if (r.family > a.family || r.first > a.value) hi = mid - 1;
      else {
        if (!shard) return true;
        const index = (this.#starts[mid] as bigint) + (a.value - r.first);
        return index % BigInt(shard.count) === BigInt(shard.index - 1);
      }
    }
    return false;
  }

  /** Addresses in a shard. */
  shardCount(shard?: Shard): bigint {
    const total = this.count();
    if (!shard) return total;
    const n = BigInt(shard.count);
    const k = BigInt(shard.index - 1);
    return total > k ? (total - k - 1n) / n + 1n : 0n;
  }
}

/**
 * The default ports: the 20 TCP ports nmap's own frequency data
 * (nmap-services, `--top-ports 20`) finds open most often, in that order:
 * the common services (web, remote shells and desktops, mail, file sharing,
 * databases) for 20 connects per live host.
 */
export const DEFAULT_PORTS: readonly number[] = [80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993, 5900];

/** "22,80,8000-8100", "-" or "1-65535" for every port. Duplicates removed, order kept. Throws BAD_TARGET. */
export function parsePorts(text: string): number[] {
  const t = text.trim();
  if (t === "-") return Array.from({ length: 65535 }, (_, i) => i + 1);
  if (t === "") throw bad("Cannot scan an empty port list");
  const out: number[] = [];
  const seen = new Set<number>();
  const port = (s: string, part: string) => {
    const n = Number(s);
    if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535) throw bad(`Cannot scan port "${part}": ports are 1 to 65535`);
    return n;
  };
  for (const part of t.split(",")) {
    const p = part.trim();
    const m = /^(\d*)-(\d*)$/.exec(p);
    const [from, to] = m ? [port(m[1] || "1", p), port(m[2] || "65535", p)] : [port(p, p), port(p, p)];
    if (to < from) throw bad(`Cannot scan ports "${p}": the range ends before it starts`);
    for (let n = from; n <= to; n++)
      if (!seen.has(n)) {
        seen.add(n);
        out.push(n);
      }
  }
  return out;
}
