/**
 * What changed between two scans of the same hosts: hosts that came up or
 * went down, ports that opened, closed or changed state. `scan --every`
 * reports it each round; `halfopen scans diff A B` on demand. Pure.
 *
 * - A scan that did not finish (interrupted) says nothing about the hosts it
 *   did not reach: a host missing from it is neither up nor down.
 * - Only ports both scans checked are compared, and only hosts both scans
 *   covered: a host up in one scan is "down" in the other only if the other
 *   scanned its address (`covers`; scans of different targets).
 * - `unknown` (a local error on the scanning machine: EMFILE, ENOBUFS, ...)
 *   says nothing about the target: a change to or from it is not reported.
 */
import type { HostResult } from "./model.js";
import { addressToBigInt, parseTarget, TargetSet, type Shard } from "./targets.js";

export interface ScanForDiff {
  /** Hosts found up (down ones may be included; they count as not up). */
  hosts: readonly HostResult[];
  ports: readonly number[];
  /** The scan ran to the end: a host it does not list as up was down. */
  complete: boolean;
  /** Whether the scan's targets include an address (absent: every address of the other scan). */
  covers?: (address: string) => boolean;
}

/** Which addresses a scan's targets cover, from its spec (host names cover the addresses it found up under them). */
export function coverageOf(spec: { targets: readonly string[]; exclude: readonly string[]; shard?: Shard }, hosts: readonly HostResult[]): (address: string) => boolean {
  const ranges = (list: readonly string[]) =>
    list.flatMap((t) => {
      try {
        const p = parseTarget(t);
        return p.kind === "range" ? [p.range] : [];
      } catch {
        return [];
      }
    });
  const set = new TargetSet(ranges(spec.targets), ranges(spec.exclude));
  const named = new Set(hosts.filter((h) => h.names?.length).map((h) => h.address));
  return (address) => named.has(address) || set.includes(address, spec.shard);
}

export type ScanChange =
  | { change: "host-up"; address: string; reason: string; open: number[] }
  | { change: "host-down"; address: string; open: number[] }
  | { change: "port-opened" | "port-closed" | "port-state"; address: string; port: number; from: string; to: string };

/** Addresses in numeric order (IPv4 before IPv6); names last, as written. */
export function compareAddresses(a: string, b: string): number {
  const x = addressToBigInt(a);
  const y = addressToBigInt(b);
  if (!x || !y) return x ? -1 : y ? 1 : a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}

const openPorts = (h: HostResult) => h.ports.filter((p) => p.state === "open").map((p) => p.port);

export function diffScans(before: ScanForDiff, after: ScanForDiff): ScanChange[] {
  const up = (s: ScanForDiff) => new Map(s.hosts.filter((h) => h.status === "up").map((h) => [h.address, h]));
  const a = up(before);
  const b = up(after);
  const common = new Set(before.ports.filter((p) => after.ports.includes(p)));
  const changes: ScanChange[] = [];
  for (const [address, h] of b) {
    const old = a.get(address);
    if (!old) {
      if (before.complete && (before.covers?.(address) ?? true)) changes.push({ change: "host-up", address, reason: h.reason, open: openPorts(h).filter((p) => common.has(p)) });
      continue;
    }
    const was = new Map(old.ports.map((p) => [p.port, p.state]));
    for (const p of h.ports) {
      const from = was.get(p.port);
      if (!common.has(p.port) || from === undefined || from === p.state || from === "unknown" || p.state === "unknown") continue;
      const change = p.state === "open" ? "port-opened" : from === "open" ? "port-closed" : "port-state";
      changes.push({ change, address, port: p.port, from, to: p.state });
    }
  }
  if (after.complete) for (const [address, h] of a) if (!b.has(address) && (after.covers?.(address) ?? true)) changes.push({ change: "host-down", address, open: openPorts(h).filter((p) => common.has(p)) });
  return changes.sort((x, y) => compareAddresses(x.address, y.address) || ("port" in x ? x.port : 0) - ("port" in y ? y.port : 0));
}

/** One change as a terminal line (the address is ours; nothing here comes from the target). */
export function changeLine(c: ScanChange): string {
  const ports = (list: number[]) => (list.length > 0 ? `: ${list.map((p) => `${p}/tcp`).join(", ")} open` : "");
  switch (c.change) {
    case "host-up":
      return `+ ${c.address} up (${c.reason})${ports(c.open)}`;
    case "host-down":
      return `- ${c.address} down${c.open.length > 0 ? ` (had ${c.open.map((p) => `${p}/tcp`).join(", ")} open)` : ""}`;
    case "port-opened":
      return `+ ${c.address} ${c.port}/tcp open (was ${c.from})`;
    case "port-closed":
      return `- ${c.address} ${c.port}/tcp ${c.to} (was open)`;
    case "port-state":
      return `~ ${c.address} ${c.port}/tcp ${c.to} (was ${c.from})`;
  }
}
