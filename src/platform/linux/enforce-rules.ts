/**
 * How `watch --enforce` steers the first SYN of new outbound TCP connections
 * into its NFQUEUE queue, in a table or chain of its own, with `bypass` so
 * that nothing is held while nobody listens (a SIGKILLed watch blocks
 * nothing). Two ways, detected in this order:
 *
 *   nft     table inet halfopen_enforce, a filter chain on the output hook
 *           with `queue num N bypass` (needs the kernel's nft_queue; not
 *           on this project's machines);
 *   xtables a chain HALFOPEN_ENFORCE in the mangle tables of iptables and
 *           ip6tables (iptables-nft or legacy), jumped to from OUTPUT, with
 *           `-j NFQUEUE --queue-bypass`.
 *
 * Only SYN-without-ACK packets of connections conntrack sees as new are
 * queued: established, inbound and (unless --enforce-loopback) loopback
 * traffic never is. A table or chain left by a run that was killed is
 * removed at the next start and said. Commands run without a shell
 * (execFile), in another network namespace through nsenter.
 *
 * Needs: root (CAP_NET_ADMIN), nft or iptables. Not part of the pure core.
 */
import { execFileSync } from "node:child_process";
import { ErrorCodes, HalfOpenError } from "../../errors.js";

export const NFT_TABLE = "halfopen_enforce";
export const XT_CHAIN = "HALFOPEN_ENFORCE";

export interface SteeringOptions {
  queueNum: number;
  /** Also hold SYNs to loopback. */
  loopback: boolean;
  /** The network namespace to steer in (a path such as /run/netns/NAME); ours when absent. */
  netnsPath?: string;
}

export type SteeringKind = "nft" | "xtables";

/** The nft ruleset of our table. Pure. */
export function nftRuleset(o: Pick<SteeringOptions, "queueNum" | "loopback">): string {
  return [
    `table inet ${NFT_TABLE} {`,
    "  chain output {",
    "    type filter hook output priority -150; policy accept;",
    ...(o.loopback ? [] : ['    oifname "lo" return']),
    `    meta l4proto tcp tcp flags & (syn | ack) == syn ct state new queue num ${o.queueNum} bypass`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The iptables arguments that build our chain (after -t mangle), in order. Pure. */
export function xtablesRules(o: Pick<SteeringOptions, "queueNum" | "loopback">): string[][] {
  return [
    ["-N", XT_CHAIN],
    ...(o.loopback ? [] : [["-A", XT_CHAIN, "-o", "lo", "-j", "RETURN"]]),
    ["-A", XT_CHAIN, "-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN", "-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", String(o.queueNum), "--queue-bypass"],
    ["-I", "OUTPUT", "1", "-j", XT_CHAIN],
  ];
}

/** Run a command (in the namespace, if any); the exit status and output, never a throw for a failing command. */
function run(netnsPath: string | undefined, argv: string[], input?: string): { ok: boolean; out: string; missing: boolean } {
  const full = netnsPath ? ["nsenter", `--net=${netnsPath}`, "--", ...argv] : argv;
  try {
    const out = execFileSync(full[0] as string, full.slice(1), { input: input ?? "", stdio: ["pipe", "pipe", "pipe"], encoding: "utf8", timeout: 10_000 });
    return { ok: true, out, missing: false };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    return { ok: false, out: `${err.stderr ?? ""}${err.stdout ?? ""}`.trim() || err.message, missing: err.code === "ENOENT" };
  }
}

const XT_TOOLS = ["iptables", "ip6tables"] as const;

/** Rules a run that was killed left behind: what was found (and removed). */
export function removeLeftovers(o: Pick<SteeringOptions, "netnsPath">): string[] {
  const found: string[] = [];
  if (run(o.netnsPath, ["nft", "list", "table", "inet", NFT_TABLE]).ok) {
    run(o.netnsPath, ["nft", "delete", "table", "inet", NFT_TABLE]);
    found.push(`nft table inet ${NFT_TABLE}`);
  }
  for (const tool of XT_TOOLS) {
    if (!run(o.netnsPath, [tool, "-w", "-t", "mangle", "-S", XT_CHAIN]).ok) continue;
    removeXtables(tool, o.netnsPath);
    found.push(`${tool} chain mangle ${XT_CHAIN}`);
  }
  return found;
}

function removeXtables(tool: string, netnsPath: string | undefined): void {
  // The jump may be there more than once if someone added it again; remove every copy.
  for (let i = 0; i < 16 && run(netnsPath, [tool, "-w", "-t", "mangle", "-D", "OUTPUT", "-j", XT_CHAIN]).ok; i++);
  run(netnsPath, [tool, "-w", "-t", "mangle", "-F", XT_CHAIN]);
  run(netnsPath, [tool, "-w", "-t", "mangle", "-X", XT_CHAIN]);
}

/** The rules in place; `remove()` takes them away (idempotent, synchronous: safe on every exit path). */
export interface Steering {
  kind: SteeringKind;
  /** What was installed, for the start record. */
  describe: string;
  remove(): void;
}

/**
 * Install the rules, the first way that works. Throws ENFORCE_UNAVAILABLE
 * naming what each way said when none does.
 */
export function installSteering(o: SteeringOptions): Steering {
  const tried: string[] = [];
  const nft = run(o.netnsPath, ["nft", "-f", "-"], nftRuleset(o));
  if (nft.ok) {
    let removed = false;
    return {
      kind: "nft",
      describe: `nft table inet ${NFT_TABLE} (queue ${o.queueNum}, bypass)`,
      remove: () => {
        if (removed) return;
        removed = true;
        run(o.netnsPath, ["nft", "delete", "table", "inet", NFT_TABLE]);
      },
    };
  }
  // A table may have been created before the queue rule failed.
  run(o.netnsPath, ["nft", "delete", "table", "inet", NFT_TABLE]);
  tried.push(nft.missing ? "nft is not installed" : `nft has no queue expression here (${firstLine(nft.out)})`);
  const installed: string[] = [];
  const undo = () => {
    for (const tool of installed) removeXtables(tool, o.netnsPath);
    installed.length = 0;
  };
  for (const tool of XT_TOOLS) {
    const rules = xtablesRules(o);
    let failed: string | undefined;
    for (const args of rules) {
      const r = run(o.netnsPath, [tool, "-w", "-t", "mangle", ...args]);
      if (!installed.includes(tool)) installed.push(tool);
      if (!r.ok) {
        failed = r.missing ? `${tool} is not installed (Debian package iptables)` : `${tool} ${args.join(" ")}: ${firstLine(r.out)}`;
        break;
      }
    }
    if (failed) {
      undo();
      tried.push(failed);
      throw new HalfOpenError(ErrorCodes.ENFORCE_UNAVAILABLE, `Cannot steer SYNs into a queue: ${tried.join("; ")}`);
    }
  }
  let removed = false;
  return {
    kind: "xtables",
    describe: `iptables and ip6tables chain mangle ${XT_CHAIN}, jumped to from OUTPUT (NFQUEUE ${o.queueNum}, bypass)`,
    remove: () => {
      if (removed) return;
      removed = true;
      undo();
    },
  };
}

function firstLine(s: string): string {
  return s.split("\n").find((l) => l.trim() !== "")?.trim() ?? "failed";
}
