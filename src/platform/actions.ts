/**
 * The two actions on a culprit: end the process (`halfopen kill`), or end
 * only its half-open connection attempts (`halfopen close`, Linux).
 *
 * Ending a process re-reads its identity right before the signal and checks
 * it against what the user confirmed (pid and start time), so a pid reused
 * in between is never signalled. Closing sockets uses the kernel's socket
 * destroy (`ss -K`, SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY) inside the
 * process's own network namespace (`nsenter --net`; linux/close-sockets.ts,
 * chosen by select.ts), and then reads the socket table again to report what
 * really closed.
 *
 * Needs: kill(2); for close, root (CAP_NET_ADMIN), iproute2's ss and
 * util-linux's nsenter.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type ProcessIdentity, SIGNALS, type SignalName, checkKill } from "../core/kill-policy.js";
import { type SocketRow } from "../core/socket-table.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import type { SocketReader } from "./polling-source.js";
import { readIdentity } from "./process-identity.js";
import { selectReader } from "./select.js";
import { type CloseFilter, halfOpenSocketsIn } from "./socket-query.js";

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

export type { CloseFilter, CloseResult } from "./socket-query.js";

/** The half-open sockets of `pid` matching the filter, from the platform's socket table reader (chosen here when none is given). */
export async function halfOpenSocketsOf(pid: number, filter: CloseFilter = {}, reader?: SocketReader): Promise<SocketRow[]> {
  if (!reader) {
    reader = await selectReader();
    await reader.probe();
  }
  return halfOpenSocketsIn(reader, pid, filter);
}
