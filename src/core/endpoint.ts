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

/**
 * Values made once per address and port and kept, at most `max` of them (then started over): a memo for the hot
 * path, where a flood repeats a few destinations tens of thousands of times a second.
 */
export class EndpointMemo<T> {
  readonly #byAddress = new Map<string, Map<number, T>>();
  #size = 0;
  /** The last address asked for and its ports: a flood repeats one address (a scan of ports, a storm at one server). */
  #lastAddress?: string;
  #lastPorts?: Map<number, T>;
  constructor(
    readonly make: (address: string, port: number) => T,
    readonly max = 65_536,
  ) {}

  get(address: string, port: number): T {
    let ports = this.#lastPorts;
    if (address !== this.#lastAddress || ports === undefined) ports = this.#portsOf(address);
    const found = ports.get(port);
    if (found !== undefined) return found;
    if (this.#size >= this.max) {
      this.#byAddress.clear();
      this.#size = 0;
      ports = this.#portsOf(address);
    }
    const value = this.make(address, port);
    ports.set(port, value);
    this.#size++;
    return value;
  }

  /** The ports of an address (made when missing), kept at hand as the last. */
  #portsOf(address: string): Map<number, T> {
    let ports = this.#byAddress.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.#byAddress.set(address, ports);
    }
    this.#lastAddress = address;
    this.#lastPorts = ports;
    return ports;
  }
}

const keys = new EndpointMemo((address, port) => formatEndpoint({ address, port }));

/** formatEndpoint of an address and port, made once: the key of a destination in maps and sets on the hot path. */
export function endpointKey(address: string, port: number): string {
  return keys.get(address, port);
}

const KEY = Symbol("endpointKey");
const ID = Symbol("endpointId");
let nextId = 0;

/**
 * A frozen endpoint that carries its endpointKey, for a source's memo of the endpoints it hands out: the key is made
 * once per endpoint, where endpointKey costs each attempt a lookup in each detector that counts destinations. The key
 * is not enumerable: JSON and object spread leave it out, so a copy is a plain endpoint.
 */
export function keyedEndpoint(address: string, port: number): Endpoint {
  const e = { address, port };
  Object.defineProperty(e, KEY, { value: formatEndpoint(e) });
  Object.defineProperty(e, ID, { value: nextId++ & 0x3fff_ffff });
  return Object.freeze(e);
}

/**
 * A direct-mapped cache in front of a map the caller keeps, for the endpoints keyedEndpoint made (each carries a
 * small number: its slot here): a hit is an array load and one comparison, where the map costs a hash lookup. Other
 * endpoints always miss. The caller sets an endpoint's value again whenever its map's value changes (a map whose
 * values are objects changed in place never needs to).
 */
export class EndpointCache<V> {
  readonly #endpoints: (Endpoint | undefined)[];
  readonly #values: (V | undefined)[];
  readonly #mask: number;
  constructor(slots = 4096) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`EndpointCache slots must be a power of two, not ${slots}`);
    this.#endpoints = new Array<Endpoint | undefined>(slots).fill(undefined);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
  }

  get(e: Endpoint): V | undefined {
    const id = (e as { [ID]?: number })[ID];
    if (id === undefined) return undefined;
    const i = id & this.#mask;
    return this.#endpoints[i] === e ? this.#values[i] : undefined;
  }

  set(e: Endpoint, value: V): void {
    const id = (e as { [ID]?: number })[ID];
    if (id === undefined) return;
    const i = id & this.#mask;
    this.#endpoints[i] = e;
    this.#values[i] = value;
  }
}

/** The endpointKey of an endpoint: its own when keyedEndpoint made it, else from the memo. */
export function keyOf(e: Endpoint): string {
  return (e as { [KEY]?: string })[KEY] ?? keys.get(e.address, e.port);
}
