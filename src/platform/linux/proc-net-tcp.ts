/**
 * Pure parsers for /proc/net/tcp and /proc/net/tcp6 (proc(5),
 * net/ipv4/tcp_ipv4.c get_tcp4_sock) and for /proc/PID/fd links.
 *
 * A line: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
 * with addresses as hex of the kernel's in-memory bytes: an IPv4 address is
 * one 32-bit word, an IPv6 address four, each printed as a host-order integer
 * (so reversed byte by byte on little-endian machines). Ports are plain hex.
 * Lines that do not parse are counted, never fatal.
 */
import { type IpFamily, formatIPv4, formatIPv6 } from "../../core/endpoint.js";
import type { SocketRow } from "../../core/socket-table.js";

export interface ProcNetTcpResult {
  rows: SocketRow[];
  /** Lines that did not parse (truncated read, unknown format). */
  badLines: number;
  /** The first bad line, for the warning. */
  firstBad?: string;
}

export interface ProcNetTcpOptions {
  /** Byte order of the machine that printed the file. Default: little-endian (x86, arm64). */
  littleEndian?: boolean;
  /** Network namespace the file belongs to; keys and rows carry it. */
  netns?: number;
  /** Only rows with this state (kernel number), e.g. 2 for SYN_SENT. */
  state?: number;
}

const HEX = /^[0-9A-Fa-f]+$/;

function hexWordsToBytes(hex: string, littleEndian: boolean): Uint8Array | undefined {
  if (hex.length % 8 !== 0 || !HEX.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    for (let b = 0; b < 4; b++) {
      const byte = Number.parseInt(hex.slice(w * 8 + b * 2, w * 8 + b * 2 + 2), 16);
      out[w * 4 + (littleEndian ? 3 - b : b)] = byte;
    }
  }
  return out;
}

/** `0100007F:1F90` -> { address: "127.0.0.1", port: 8080 } (family from the length). */
export function parseProcAddress(text: string, littleEndian = true): { address: string; port: number; family: IpFamily } | undefined {
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  const addrHex = text.slice(0, colon);
  const portHex = text.slice(colon + 1);
  if (portHex.length === 0 || portHex.length > 4 || !HEX.test(portHex)) return undefined;
  const bytes = hexWordsToBytes(addrHex, littleEndian);
  if (!bytes) return undefined;
  const port = Number.parseInt(portHex, 16);
  if (bytes.length === 4) return { address: formatIPv4(bytes), port, family: 4 };
  if (bytes.length === 16) return { address: formatIPv6(bytes), port, family: 6 };
  return undefined;
}

/** Space-separated fields of one line, without a regex (15,000 lines per read are common). */
function fields(line: string, max: number): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n && out.length < max) {
    while (i < n && line.charCodeAt(i) === 32) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && line.charCodeAt(j) !== 32) j++;
    out.push(line.slice(i, j));
    i = j;
  }
  return out;
}

/**
 * Parse the text of /proc/net/tcp or /proc/net/tcp6. The header line is
 * skipped; every other line either becomes a row or counts as bad.
 * Row keys are `<netns>:<inode>` for owned sockets and the 4-tuple for
 * sockets with inode 0 (TIME_WAIT, orphans), which no process owns.
 */
export function parseProcNetTcp(text: string, options: ProcNetTcpOptions = {}): ProcNetTcpResult {
  const littleEndian = options.littleEndian ?? true;
  const rows: SocketRow[] = [];
  const addresses = new Map<string, ReturnType<typeof parseProcAddress>>();
  /** Addresses repeat (one local address, few remotes): parse each once per read. */
  const address = (hexWithPort: string) => {
    const colon = hexWithPort.indexOf(":");
    if (colon < 0 || hexWithPort.length - colon - 1 !== 4) return undefined;
    const hex = hexWithPort.slice(0, colon);
    let a = addresses.get(hex);
    if (a === undefined && !addresses.has(hex)) {
      a = parseProcAddress(`${hex}:0`, littleEndian);
      addresses.set(hex, a);
    }
    return a;
  };
  let badLines = 0;
  let firstBad: string | undefined;
  const bad = (line: string) => {
    badLines++;
    firstBad ??= line.trim().slice(0, 120);
  };
  const ns = options.netns ?? 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    const f = fields(line, 10);
    if (f.length === 0 || f[0] === "sl") continue;
    const stateText = f[3] ?? "";
    if (f.length < 10 || !f[0]?.endsWith(":") || stateText.length !== 2 || !HEX.test(stateText)) {
      bad(line);
      continue;
    }
    const state = Number.parseInt(stateText, 16);
    if (options.state !== undefined && state !== options.state) continue;
    const local = address(f[1] ?? "");
    const remote = address(f[2] ?? "");
    const retransmits = Number.parseInt(f[6] ?? "", 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    const lp = f[1] ?? "";
    const rp = f[2] ?? "";
    const localPort = Number.parseInt(lp.slice(lp.length - 4), 16);
    const remotePort = Number.parseInt(rp.slice(rp.length - 4), 16);
    if (
      !local || !remote || local.family !== remote.family || !Number.isFinite(retransmits) || !Number.isSafeInteger(uid) ||
      !Number.isSafeInteger(inode) || !HEX.test(lp.slice(lp.length - 4)) || !HEX.test(rp.slice(rp.length - 4))
    ) {
      bad(line);
      continue;
    }
    rows.push(
      socketRow(ns, options.netns !== undefined, {
        family: local.family,
        local: { address: local.address, port: localPort },
        remote: { address: remote.address, port: remotePort },
        state,
        uid,
        retransmits,
        inode,
      }),
    );
  }
  return firstBad === undefined ? { rows, badLines } : { rows, badLines, firstBad };
}

/** A socket's fields, as both /proc/net/tcp and sock_diag give them. */
export type SocketFields = Required<Pick<SocketRow, "family" | "local" | "remote" | "state" | "uid" | "retransmits" | "inode">>;

/**
 * A row keyed `<netns>:<inode>`, or by its 4-tuple when the inode is 0
 * (TIME_WAIT, orphans: no process owns it). `withNetns`: the row says its
 * namespace; inode 0 is left out of the row.
 */
export function socketRow(ns: number, withNetns: boolean, f: SocketFields): SocketRow {
  const row: SocketRow = {
    key: f.inode !== 0 ? `${ns}:${f.inode}` : `${ns}:${f.local.address}:${f.local.port}>${f.remote.address}:${f.remote.port}`,
    family: f.family,
    local: f.local,
    remote: f.remote,
    state: f.state,
    uid: f.uid,
    retransmits: f.retransmits,
  };
  if (withNetns) row.netns = ns;
  if (f.inode !== 0) row.inode = f.inode;
  return row;
}

/** The socket inode of a /proc/PID/fd link (`socket:[12345]`), or undefined. */
export function parseSocketLink(link: string): number | undefined {
  if (!link.startsWith("socket:[") || !link.endsWith("]")) return undefined;
  const n = Number(link.slice(8, -1));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
