/**
 * `halfopen close` on Linux: ends only a process's half-open connection
 * attempts with the kernel's socket destroy (`ss -K`, SOCK_DESTROY,
 * CONFIG_INET_DIAG_DESTROY), run inside the process's own network namespace
 * (`nsenter --net`), then reads the socket table again to report what really
 * closed. Chosen by select.ts (closeHalfOpen); never called elsewhere.
 *
 * Needs: root (CAP_NET_ADMIN), iproute2's ss and util-linux's nsenter;
 * a kernel built with CONFIG_INET_DIAG_DESTROY.
 */
import { formatEndpoint } from "../../core/endpoint.js";
import type { SocketRow } from "../../core/socket-table.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { type CloseFilter, type CloseResult, halfOpenSocketsIn } from "../socket-query.js";
import { type ToolRunner, runTool } from "../tools.js";
import { parseNamespaceLink } from "./procfs-parse.js";
import { tryReadlink } from "./process-info.js";
import { ProcfsReader } from "./procfs-reader.js";

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
  if (process.geteuid?.() !== 0) throw new HalfOpenError(ErrorCodes.NEEDS_PRIVILEGES, "halfopen close needs root (CAP_NET_ADMIN) to destroy sockets; run it with sudo");
  const reader = new ProcfsReader();
  // `found`: the sockets the user just confirmed, so /proc is not read twice before acting.
  const rows = found ?? (await halfOpenSocketsIn(reader, pid, filter));
  if (rows.length === 0) return { pid, found: 0, closed: 0, remaining: 0, sockets: [] };
  const ourNs = parseNamespaceLink(tryReadlink("/proc/self/ns/net") ?? "");
  const theirNs = parseNamespaceLink(tryReadlink(`/proc/${pid}/ns/net`) ?? "");
  let stderr = "";
  for (const args of ssKillArgs(rows)) {
    const result = theirNs !== undefined && theirNs !== ourNs ? await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ss", ...args]) : await run("ss", args);
    stderr += result.stderr;
  }
  const after = new Set((await halfOpenSocketsIn(reader, pid, filter)).map((r) => r.key));
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

