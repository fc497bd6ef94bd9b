/**
 * Host discovery that holds no half-open slot: ICMP echo and TCP ACK to 80
 * and 443 over raw sockets, or ICMP through a Linux ping socket, sent by the
 * platform's helper (platform/select.ts: loadHostDiscovery; the native
 * helper on Linux). What this process may open is learnt once, with one
 * probe to 127.0.0.1 (nothing leaves the host); without either, discovery
 * falls back to connects, which the scan says once.
 */
import { addressToBigInt, formatAddress } from "../core/scan/targets.js";
import type { HostDiscovery } from "../platform/select.js";

/** The discovery ports of nmap's unprivileged ping. */
export const DISCOVERY_PORTS = [80, 443] as const;

export interface SweepResult {
  answered: Map<string, { reason: string; rttMs: number }>;
  /** Why IPv6 addresses could not be swept (no IPv6 ping socket, ...): they are found by connect. */
  v6Failed?: string;
}

export interface RawDiscovery {
  mode?: "raw" | "ping-socket";
  /** Why discovery is not raw, said once in the summary. */
  note?: string;
  sweep?: (addresses: string[], timeoutMs: number) => Promise<SweepResult>;
}

/** Raw sockets (or a ping socket) if this process may use them, with a sweep of `rate` probes a second; else why not. */
export async function openRawDiscovery(helper: HostDiscovery | undefined, rate: number): Promise<RawDiscovery> {
  if (!helper) return { note: "no native helper: discovering hosts by connect to 80 and 443, inside the budget" };
  const sourcePort = 40_000 + (process.pid % 20_000);
  const sweep = async (list: string[], timeoutMs: number): Promise<SweepResult> => {
    const v4 = list.filter((a) => !a.includes(":"));
    const v6 = list.filter((a) => a.includes(":"));
    // Both families at once share the rate.
    const options = (n: number) => ({ icmp: true, ackPorts: [...DISCOVERY_PORTS], timeoutMs, perSecond: (rate * n) / list.length, sourcePort });
    const value = (a: string) => addressToBigInt(a)?.value ?? 0n;
    const bytes = new Uint8Array(v6.length * 16);
    v6.forEach((a, i) => {
      let v = value(a);
      for (let j = 15; j >= 0; j--, v >>= 8n) bytes[i * 16 + j] = Number(v & 255n);
    });
    const reason = (kind: number | undefined) => (kind === 1 ? "echo-reply" : "reset");
    const [four, six] = await Promise.all([
      v4.length > 0 ? helper.discover(Uint32Array.from(v4.map((a) => Number(value(a)))), options(v4.length)) : undefined,
      v6.length > 0 ? helper.discover6(bytes, options(v6.length)).catch((e: NodeJS.ErrnoException) => new Error(`no IPv6 ${e.code === "EPERM" ? "ping socket" : "raw socket"}: ${e.code ?? e.message}`)) : undefined,
    ]);
    const answered = new Map<string, { reason: string; rttMs: number }>();
    const replies = four?.replies ?? [];
    for (let i = 0; i + 2 < replies.length; i += 3) {
      const n = replies[i] as number;
      answered.set(formatAddress(4, BigInt(n)), { reason: reason(replies[i + 1]), rttMs: replies[i + 2] as number });
    }
    if (six instanceof Error) return { answered, v6Failed: six.message };
    const r6 = six?.replies ?? [];
    for (let i = 0; i + 2 < r6.length; i += 3) answered.set(v6[r6[i] as number] as string, { reason: reason(r6[i + 1]), rttMs: r6[i + 2] as number });
    return { answered };
  };
  // One probe to learn what this process may open (to 127.0.0.1: nothing leaves the host).
  try {
    const { mode } = await helper.discover(Uint32Array.of(0x7f000001), { icmp: true, ackPorts: [], timeoutMs: 0, perSecond: 0, sourcePort });
    return mode === "raw" ? { mode, sweep } : { mode, sweep, note: "no CAP_NET_RAW: ICMP through a ping socket, then connects to 80 and 443 for hosts that did not answer (no ACK probes)" };
  } catch (e) {
    return { note: `no CAP_NET_RAW and no ping socket (${(e as NodeJS.ErrnoException).code ?? "error"}; net.ipv4.ping_group_range): discovering hosts by connect to 80 and 443, inside the budget` };
  }
}
