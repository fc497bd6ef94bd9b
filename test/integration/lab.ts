/**
 * The netns lab: a network namespace this process creates, with 198.18.0.1
 * (RFC 2544 benchmarking range) on its loopback and an nftables rule that
 * drops SYNs to port 9 and to ports 10000-19999 (IPv4 and IPv6), so connects
 * there stay half-open until they time out. Port 7 has no listener: refused.
 * No traffic leaves the namespace.
 *
 * Needs root, iproute2 and nftables. `labSkipReason()` says why a test must
 * skip; under CI (CI=true) a missing prerequisite fails instead of skipping.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe } from "node:test";

export const LAB_ADDRESS = "198.18.0.1";
export const DROPPED_PORT = 9;
export const DROPPED_RANGE = [10_000, 19_999] as const;
export const REFUSED_PORT = 7;

/** `n` ports of the dropped range from `DROPPED_RANGE[0] + from`: connects there stay half-open. */
export function droppedPorts(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => DROPPED_RANGE[0] + from + i);
}

export interface Lab {
  name: string;
}

const NFT_RULES = `table inet halfopen_lab {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { ${DROPPED_PORT}, ${DROPPED_RANGE[0]}-${DROPPED_RANGE[1]} } tcp flags & (syn | ack) == syn drop
  }
}
`;

function which(cmd: string): boolean {
  return ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].some((d) => existsSync(`${d}/${cmd}`));
}

/** Why lab tests cannot run here, or undefined when they can. */
export function labSkipReason(): string | undefined {
  let reason: string | undefined;
  if (process.platform !== "linux") reason = "needs Linux";
  else if (process.geteuid?.() !== 0) reason = "needs root (network namespaces, nftables, tracefs)";
  else if (!which("ip")) reason = "needs iproute2 (ip)";
  else if (!which("nft")) reason = "needs nftables (nft)";
  if (reason && process.env.CI) {
    throw new Error(`Lab tests cannot run under CI: ${reason}; .ci/run must provide it`);
  }
  return reason;
}

/**
 * A suite of lab tests: skipped with a printed reason where the lab (or
 * `needs`, an extra prerequisite) is missing, failed under CI instead; one
 * lab namespace made before the tests and removed after them. `body` gets
 * the lab (its name is set once the suite starts).
 */
export function describeLab(title: string, options: { file: string; prefix: string; needs?: () => string | undefined }, body: (lab: Lab) => void): void {
  let skip = labSkipReason();
  if (!skip && options.needs) {
    skip = options.needs();
    if (skip && process.env.CI) throw new Error(`${options.file} cannot run under CI: ${skip}; .ci/run must provide it`);
  }
  if (skip) console.log(`# SKIP ${options.file}: ${skip}`);
  describe(title, { skip }, () => {
    const lab: Lab = { name: "" };
    before(() => {
      lab.name = createLab(options.prefix).name;
    });
    after(() => destroyLab(lab));
    body(lab);
  });
}

let counter = 0;

/** Create a fresh lab namespace (removing a leftover of the same name). */
export function createLab(prefix = "holab"): Lab {
  const name = `${prefix}-${process.pid}-${counter++}`;
  try {
    execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
  } catch {
    // not there
  }
  execFileSync("ip", ["netns", "add", name]);
  const ipns = (...args: string[]) => execFileSync("ip", ["netns", "exec", name, ...args]);
  ipns("ip", "link", "set", "lo", "up");
  ipns("ip", "addr", "add", `${LAB_ADDRESS}/32`, "dev", "lo");
  execFileSync("ip", ["netns", "exec", name, "nft", "-f", "-"], { input: NFT_RULES });
  return { name };
}

export function destroyLab(lab: Lab): void {
  try {
    execFileSync("ip", ["netns", "del", lab.name], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/** Set a sysctl inside the lab, e.g. net.ipv4.tcp_syn_retries (per namespace). */
export function labSysctl(lab: Lab, key: string, value: string): void {
  execFileSync("ip", ["netns", "exec", lab.name, "sysctl", "-q", "-w", `${key}=${value}`]);
}

/** Run a command inside the lab and wait for it. */
export function runInLab(lab: Lab, cmd: string, args: string[]): string {
  return execFileSync("ip", ["netns", "exec", lab.name, cmd, ...args], { encoding: "utf8" });
}

/** Start a command inside the lab. */
export function spawnInLab(lab: Lab, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn("ip", ["netns", "exec", lab.name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
}

/** Polls `check` every 50 ms until it holds, for at most `ms`; throws naming `what` when it never does. */
export async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
