/**
 * The scanner's lab: two network namespaces this process creates, joined by
 * a veth pair. The scanner runs in one (198.19.255.1); the other answers for
 * every address of a block (198.18.0.0/24 for the tests; a local route:
 * AnyIP) and nftables decides what each address is (TEST_LAYOUT):
 *
 *   live hosts        198.18.0.10-29, 198.18.0.50: open ports accept, closed ports answer RST
 *   firewalled hosts  198.18.0.40 (443 open), 198.18.0.41 (3389 open): ICMP and closed ports
 *                     silently dropped, like a firewalled Windows host
 *   every other address drops everything
 *
 * Listeners on 22 (with a banner), 80, 443, 3389 and 8080 serve every
 * address; nftables lets through only the open pairs.
 *
 * IPv6 beside it, in 2001:2::/48 (RFC 5180's benchmarking block, IPv6's
 * counterpart of 198.18.0.0/15): the veth carries 2001:2::1 (scanner) and
 * 2001:2::2 (target), and the target answers for 2001:2:0:1::/120
 * (V6_BLOCK): ::1 and ::2 live with every port open, ::3 live with every
 * port closed (RST), every other address dropping everything.
 *
 * No traffic leaves the two namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { Lab } from "./lab.js";

export const SCAN_PORTS = [22, 80, 443, 3389, 8080] as const;
export const SSH_BANNER = "SSH-2.0-halfopen-lab \x1b[31mred\x1b[0m";

const OPEN_PATTERNS: number[][] = [[22, 80], [80, 443], [443], [22], [8080], [22, 80, 8080], [3389, 443], [80]];

/** Open ports of each address that has any (what a correct scan must find, and nothing else). */
export function expectedOpen(): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (let i = 10; i <= 29; i++) m.set(`198.18.0.${i}`, OPEN_PATTERNS[(i - 10) % OPEN_PATTERNS.length] as number[]);
  m.set("198.18.0.40", [443]);
  m.set("198.18.0.41", [3389]);
  return m;
}

export const LIVE_NO_OPEN = "198.18.0.50";
export const V6_BLOCK = "2001:2:0:1::/120";
export const V6_OPEN = ["2001:2:0:1::1", "2001:2:0:1::2"] as const;
export const V6_CLOSED = "2001:2:0:1::3";
export const FIREWALLED = ["198.18.0.40", "198.18.0.41"] as const;

export interface ScanLab {
  scanner: Lab;
  target: Lab;
  listener: ChildProcess;
}

/** What the target namespace answers for (default: the test's /24 above). */
export interface LabLayout {
  /** The block the target namespace owns. */
  cidr: string;
  /** Open ports of each address that has any. */
  open: Map<string, number[]>;
  /** Live, with every port closed (RST). */
  liveNoOpen: string[];
  /** Firewalled: only their open ports answer; ICMP and closed ports dropped. */
  quiet: string[];
  /** Ports with a listener (every open port must be among them). */
  ports: readonly number[];
}

export const TEST_LAYOUT: LabLayout = { cidr: "198.18.0.0/24", open: expectedOpen(), liveNoOpen: [LIVE_NO_OPEN], quiet: [...FIREWALLED], ports: SCAN_PORTS };

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

function nftRules(iface: string, layout: LabLayout): string {
  const open = [...layout.open].flatMap(([a, ports]) => ports.map((p) => `${a} . ${p}`));
  const live = [...layout.open.keys(), ...layout.liveNoOpen];
  return `table ip halfopen_scanlab {
  set live { type ipv4_addr; elements = { ${live.join(", ")} } }
  set quiet { type ipv4_addr; elements = { ${layout.quiet.join(", ")} } }
  set open { type ipv4_addr . inet_service; elements = { ${open.join(", ")} } }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname != "${iface}" accept
    ip daddr != ${layout.cidr} accept
    ip daddr != @live drop
    ip daddr . tcp dport @open accept
    ip daddr @quiet drop
    meta l4proto != tcp accept
    tcp flags & (syn | ack) != syn accept
    reject with tcp reset
  }
}
table ip6 halfopen_scanlab6 {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname != "${iface}" accept
    ip6 daddr != ${V6_BLOCK} accept
    ip6 daddr != { ${[...V6_OPEN, V6_CLOSED].join(", ")} } drop
    ip6 daddr ${V6_CLOSED} tcp flags & (syn | ack) == syn reject with tcp reset
  }
}
`;
}

const listener = (ports: readonly number[]) => `
const net = require("net");
let up = 0;
for (const port of ${JSON.stringify(ports)}) {
  net.createServer((c) => { c.on("error", () => {}); if (port === 22) c.write(${JSON.stringify(`${SSH_BANNER}\r\n`)}); })
    .listen({ port, host: "0.0.0.0", backlog: 1024 }, () => { if (++up === ${ports.length * 2}) console.log("ready"); });
  net.createServer((c) => { c.on("error", () => {}); })
    .listen({ port, host: "::", ipv6Only: true, backlog: 1024 }, () => { if (++up === ${ports.length * 2}) console.log("ready"); });
}`;

let counter = 0;

export async function createScanLab(prefix = "hoscan", layout: LabLayout = TEST_LAYOUT): Promise<ScanLab> {
  const n = `${process.pid % 100000}${counter++}`;
  const scanner: Lab = { name: `${prefix}a-${n}` };
  const target: Lab = { name: `${prefix}t-${n}` };
  const va = `hoa${n}`.slice(0, 15);
  const vt = `hot${n}`.slice(0, 15);
  for (const l of [scanner, target]) {
    try {
      ip("netns", "del", l.name);
    } catch {
      // not there
    }
    ip("netns", "add", l.name);
    ip("-n", l.name, "link", "set", "lo", "up");
  }
  ip("link", "add", va, "netns", scanner.name, "type", "veth", "peer", "name", vt, "netns", target.name);
  ip("-n", scanner.name, "addr", "add", "198.19.255.1/30", "dev", va);
  ip("-n", scanner.name, "link", "set", va, "up");
  ip("-n", scanner.name, "route", "add", layout.cidr, "via", "198.19.255.2");
  ip("-n", target.name, "addr", "add", "198.19.255.2/30", "dev", vt);
  ip("-n", target.name, "link", "set", vt, "up");
  ip("-n", target.name, "route", "add", "local", layout.cidr, "dev", "lo");
  ip("-n", scanner.name, "-6", "addr", "add", "2001:2::1/64", "dev", va, "nodad");
  ip("-n", target.name, "-6", "addr", "add", "2001:2::2/64", "dev", vt, "nodad");
  ip("-n", scanner.name, "-6", "route", "add", V6_BLOCK, "via", "2001:2::2");
  ip("-n", target.name, "-6", "route", "add", "local", V6_BLOCK, "dev", "lo");
  execFileSync("ip", ["netns", "exec", target.name, "nft", "-f", "-"], { input: nftRules(vt, layout) });
  const listenerProc = spawn("ip", ["netns", "exec", target.name, process.execPath, "-e", listener(layout.ports)], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: listenerProc.stdout! }), "line")) as [string];
  if (line !== "ready") throw new Error(`scan lab listener said ${line}`);
  return { scanner, target, listener: listenerProc };
}

export function destroyScanLab(lab: ScanLab | undefined): void {
  if (!lab) return;
  lab.listener.kill("SIGKILL");
  for (const l of [lab.scanner, lab.target]) {
    try {
      ip("netns", "del", l.name);
    } catch {
      // already gone
    }
  }
}
