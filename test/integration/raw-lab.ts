/**
 * The raw-sender lab: two network namespaces this process creates, joined by
 * a veth pair. The scanner side has 198.18.1.1/24 and 2001:2::1/64 (RFC 2544
 * and RFC 5180 benchmarking ranges) on `v0`, and routes all of 198.18.0.0/15
 * to the target side (198.18.1.2, 2001:2::2 on `v1`). In the target, an
 * nftables ingress chain on `v1` counts every TCP SYN (without ACK) that
 * arrives, whatever its destination (so a scanner's random destinations in
 * 198.18.0.0/15 are counted too), in three counters: to 198.18.1.2, to the
 * rest of 198.18.0.0/15, and IPv6; and an input chain drops SYNs to ports
 * 10000-19999 so those stay unanswered. No packet leaves the two namespaces.
 */
import { execFileSync } from "node:child_process";
import { after, before, describe } from "node:test";
import { labSkipReason } from "./lab.js";

export const SCANNER_ADDRESS = "198.18.1.1";
export const TARGET_ADDRESS = "198.18.1.2";
export const SCANNER_ADDRESS6 = "2001:2::1";
export const TARGET_ADDRESS6 = "2001:2::2";
export const DROPPED_FROM = 10_000;

export interface RawLab {
  scanner: string;
  target: string;
  /** The target's MAC address (masscan's --router-mac, zmap's -G). */
  targetMac: string;
}

export interface SynCounts {
  toTarget: number;
  toOthers: number;
  ipv6: number;
}

const RULES = `table netdev halfopen_rawlab {
  chain in {
    type filter hook ingress device v1 priority 0;
    ip daddr ${TARGET_ADDRESS} tcp flags & (syn | ack) == syn counter name "target"
    ip daddr != ${TARGET_ADDRESS} tcp flags & (syn | ack) == syn counter name "others"
    ip6 nexthdr tcp tcp flags & (syn | ack) == syn counter name "ipv6"
  }
  counter target { }
  counter others { }
  counter ipv6 { }
}
table inet halfopen_rawlab_drop {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${DROPPED_FROM}-19999 tcp flags & (syn | ack) == syn drop
  }
}
`;

let counter = 0;

function run(ns: string, ...args: string[]): string {
  return execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
}

export function createRawLab(prefix: string): RawLab {
  const id = `${prefix}-${process.pid}-${counter++}`;
  const lab = { scanner: `${id}-s`, target: `${id}-t`, targetMac: "" };
  for (const ns of [lab.scanner, lab.target]) {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // not there
    }
    execFileSync("ip", ["netns", "add", ns]);
    run(ns, "ip", "link", "set", "lo", "up");
  }
  run(lab.scanner, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", lab.target);
  run(lab.scanner, "ip", "addr", "add", `${SCANNER_ADDRESS}/24`, "dev", "v0");
  run(lab.scanner, "ip", "-6", "addr", "add", `${SCANNER_ADDRESS6}/64`, "dev", "v0", "nodad");
  run(lab.target, "ip", "addr", "add", `${TARGET_ADDRESS}/24`, "dev", "v1");
  run(lab.target, "ip", "-6", "addr", "add", `${TARGET_ADDRESS6}/64`, "dev", "v1", "nodad");
  run(lab.scanner, "ip", "link", "set", "v0", "up");
  run(lab.target, "ip", "link", "set", "v1", "up");
  run(lab.scanner, "ip", "route", "add", "198.18.0.0/15", "via", TARGET_ADDRESS);
  execFileSync("ip", ["netns", "exec", lab.target, "nft", "-f", "-"], { input: RULES });
  lab.targetMac = run(lab.target, "cat", "/sys/class/net/v1/address").trim();
  return lab;
}

export function destroyRawLab(lab: RawLab): void {
  for (const ns of [lab.scanner, lab.target]) {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // gone
    }
  }
}

/** The SYNs the target has received so far. */
export function synCounts(lab: RawLab): SynCounts {
  const text = run(lab.target, "nft", "list", "counters", "table", "netdev", "halfopen_rawlab");
  const packets = (name: string) => Number(new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(text)?.[1] ?? Number.NaN);
  return { toTarget: packets("target"), toOthers: packets("others"), ipv6: packets("ipv6") };
}

/** A suite with one raw lab: skipped with a printed reason where it cannot run, failed instead under CI. */
export function describeRawLab(title: string, options: { file: string; prefix: string; needs: string[] }, body: (lab: RawLab) => void): void {
  let skip = labSkipReason();
  if (!skip) {
    const missing = options.needs.filter((cmd) => {
      try {
        execFileSync("sh", ["-c", 'command -v "$0"', cmd], { stdio: "ignore" });
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) {
      skip = `needs ${missing.join(", ")} (Debian packages, installed by .ci/run)`;
      if (process.env.CI) throw new Error(`${options.file} cannot run under CI: ${skip}`);
    }
  }
  if (skip) console.log(`# SKIP ${options.file}: ${skip}`);
  describe(title, { skip }, () => {
    const lab: RawLab = { scanner: "", target: "", targetMac: "" };
    before(() => Object.assign(lab, createRawLab(options.prefix)));
    after(() => destroyRawLab(lab));
    body(lab);
  });
}
