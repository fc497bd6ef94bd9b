/**
 * Endpoints (address and port) and address formatting from raw bytes, as the
 * kernel stores them in network byte order. Pure.
 */

/** IP version of a socket. */
export type IpFamily = 4 | 6;

/** One end of a TCP connection. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Dotted-quad text of 4 bytes at `offset` (network byte order). */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * RFC 5952 text of 16 bytes at `offset`: lower case, the longest run of two or
 * more zero groups compressed to `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`.
 *
 * @example
 * ```ts
 * import { formatIPv6 } from "halfopen";
 * const loopback = formatIPv6(new Uint8Array([0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]));
 * if (loopback !== "::1") throw new Error(loopback);
 * ```
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** `1.2.3.4:80` or `[::1]:80`. */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

const MAX_KEYS = 65_536;
const keys = new Map<string, Map<number, string>>();
let keyCount = 0;

/**
 * formatEndpoint of an address and port, made once and kept (at most 65,536, then started over): the key of a
 * destination in maps and sets on the hot path (a flood repeats a few destinations tens of thousands of times a
 * second; one string each, not one per attempt). A memo: same input, same string.
 */
export function endpointKey(address: string, port: number): string {
  let ports = keys.get(address);
  if (ports === undefined) {
    if (keyCount >= MAX_KEYS) {
      keys.clear();
      keyCount = 0;
    }
    ports = new Map();
    keys.set(address, ports);
  }
  let key = ports.get(port);
  if (key === undefined) {
    key = formatEndpoint({ address, port });
    if (keyCount >= MAX_KEYS) {
      keys.clear();
      keyCount = 0;
      keys.set(address, ports);
    }
    ports.set(port, key);
    keyCount++;
  }
  return key;
}
