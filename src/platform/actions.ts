/**
 * The two actions on a culprit: end the process (`halfopen kill`), or end
 * only its half-open connection attempts (`halfopen close`, Linux).
 *
 * Ending a process re-reads its identity right before the signal and checks
 * it against what the user confirmed (pid and start time), so a pid reused
 * in between is never signalled. Closing sockets uses the kernel's socket
 * destroy (`ss -K`, SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY) inside the
 * process's own network namespace (`nsenter --net`), and then reads the
 * socket table again to report what really closed.
 *
 * Needs: kill(2); for close, root (CAP_NET_ADMIN), iproute2's ss and
 * util-linux's nsenter.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { formatEndpoint } from "../core/endpoint.js";
import { type ProcessIdentity, SIGNALS, type SignalName, checkKill } from "../core/kill-policy.js";
import { type SocketRow } from "../core/socket-table.js";
import { TcpState } from "../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { parseNamespaceLink } from "./linux/procfs-parse.js";
import { tryReadlink } from "./linux/process-info.js";
import { ProcfsReader } from "./linux/procfs-reader.js";
import { readIdentity } from "./process-identity.js";
import { type ToolRunner, runTool } from "./tools.js";

export { SIGNALS, type SignalName };

export interface EndResult {
  pid: number;
  name: string;
  signal: `SIG${SignalName}`;
  /** "exited": gone (or a zombie) within the wait; "running": still there. */
  result: "exited" | "running";
  waitedMs: number;
}

/** Throws the policy's refusal as a HalfOpenError. */
export function assertKillable(pid: number, expected?: { name: string; startTime?: number }, requireStartTime = false): ProcessIdentity {
  const current = readIdentity(pid);
  const check = checkKill({ pid, current, ...(expected ? { expected } : {}), requireStartTime, self: process.pid, parent: process.ppid });
  if (!check.ok) throw new HalfOpenError(check.code, `Will not end PID ${pid}: ${check.reason}`);
  return current as ProcessIdentity;
}

/**
 * Send `signal` to the confirmed process and wait up to `waitMs` for it to go.
 * `confirmed` is the identity the user agreed to; it is checked again here.
 */
export async function endProcess(confirmed: ProcessIdentity, signal: SignalName, waitMs: number): Promise<EndResult> {
  assertKillable(confirmed.pid, { name: confirmed.name, ...(confirmed.startTime === undefined ? {} : { startTime: confirmed.startTime }) });
  try {
    process.kill(confirmed.pid, `SIG${signal}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ESRCH") throw new HalfOpenError(ErrorCodes.NOT_FOUND, `PID ${confirmed.pid} (${confirmed.name}) exited before the signal`);
    if (code === "EPERM") throw new HalfOpenError(ErrorCodes.NEEDS_PRIVILEGES, `Cannot signal PID ${confirmed.pid} (${confirmed.name}): it belongs to another user; run with sudo`);
    throw e;
  }
  const started = Date.now();
  for (;;) {
    const now = readIdentity(confirmed.pid);
    const gone = !now || (confirmed.startTime !== undefined && now.startTime !== confirmed.startTime) || now.state === "Z";
    const waited = Date.now() - started;
    if (gone) return { pid: confirmed.pid, name: confirmed.name, signal: `SIG${signal}`, result: "exited", waitedMs: waited };
    if (waited >= waitMs) return { pid: confirmed.pid, name: confirmed.name, signal: `SIG${signal}`, result: "running", waitedMs: waited };
    await sleep(Math.min(50, waitMs - waited));
  }
}

export interface CloseFilter {
  /** Only attempts to this address (and port, when given). */
  dst?: { address: string; port: number | undefined };
}

export interface CloseResult {
  pid: number;
  /** Half-open attempts of the process that matched. */
  found: number;
  /** Of those, destroyed by the kernel (gone at the re-read). */
  closed: number;
  /** Still half-open at the re-read. */
  remaining: number;
  sockets: { src: string; dst: string; closed: boolean }[];
}

/** The half-open sockets of `pid` matching the filter, from /proc. */
export async function halfOpenSocketsOf(pid: number, filter: CloseFilter = {}, reader = new ProcfsReader()): Promise<SocketRow[]> {
  const read = await reader.read(0);
  return read.snapshot.rows.filter(
    (r) =>
      r.pid === pid &&
      r.state === TcpState.SYN_SENT &&
      (!filter.dst || (r.remote.address === filter.dst.address && (filter.dst.port === undefined || r.remote.port === filter.dst.port))),
  );
}

/** The `ss -K` argument lists that destroy these sockets (chunks of 128; one filter term per socket). */
export function ssKillArgs(rows: SocketRow[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < rows.length; i += 128) {
    const terms: string[] = [];
    for (const r of rows.slice(i, i + 128)) {
      if (terms.length > 0) terms.push("or");
      terms.push("(", "src", formatEndpoint(r.local), "and", "dst", formatEndpoint(r.remote), ")");
    }
    out.push(["-K", "-n", "-t", "state", "syn-sent", "(", ...terms, ")"]);
  }
  return out;
}

/**
 * Destroy the half-open sockets of `pid` (matching the filter). Throws
 * UNSUPPORTED when the kernel destroyed none of them while they stayed.
 */
export async function closeHalfOpen(pid: number, filter: CloseFilter = {}, run: ToolRunner = runTool, found?: SocketRow[]): Promise<CloseResult> {
  if (process.platform !== "linux") throw new HalfOpenError(ErrorCodes.UNSUPPORTED, "halfopen close works on Linux only (it uses the kernel's socket destroy); end the process instead with halfopen kill");
  if (process.geteuid?.() !== 0) throw new HalfOpenError(ErrorCodes.NEEDS_PRIVILEGES, "halfopen close needs root (CAP_NET_ADMIN) to destroy sockets; run it with sudo");
  const reader = new ProcfsReader();
  // `found`: the sockets the user just confirmed, so /proc is not read twice before acting.
  const rows = found ?? (await halfOpenSocketsOf(pid, filter, reader));
  if (rows.length === 0) return { pid, found: 0, closed: 0, remaining: 0, sockets: [] };
  const ourNs = parseNamespaceLink(tryReadlink("/proc/self/ns/net") ?? "");
  const theirNs = parseNamespaceLink(tryReadlink(`/proc/${pid}/ns/net`) ?? "");
  let stderr = "";
  for (const args of ssKillArgs(rows)) {
    const result = theirNs !== undefined && theirNs !== ourNs ? await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ss", ...args]) : await run("ss", args);
    stderr += result.stderr;
  }
  const after = new Set((await halfOpenSocketsOf(pid, filter, reader)).map((r) => r.key));
  const sockets = rows.map((r) => ({ src: formatEndpoint(r.local), dst: formatEndpoint(r.remote), closed: !after.has(r.key) }));
  const closed = sockets.filter((s) => s.closed).length;
  if (closed === 0) {
    const why = /not supported|Operation not permitted/i.test(stderr) ? ` (ss: ${stderr.trim().split("\n")[0]})` : "";
    throw new HalfOpenError(
      ErrorCodes.UNSUPPORTED,
      `The kernel destroyed none of the ${rows.length} half-open sockets of PID ${pid}${why}: socket destroy needs CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN. End the process instead (halfopen kill ${pid})`,
    );
  }
  return { pid, found: rows.length, closed, remaining: rows.length - closed, sockets };
}

