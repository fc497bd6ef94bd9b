/**
 * Reads who a pid is now, for `kill`, `incidents show --kill` and for
 * telling whether the watch run that left an incident open is still alive.
 *
 * Linux: /proc/PID/status (name, ppid, uid) and /proc/PID/stat (start time
 * in clock ticks since boot, the same value the monitor records). Elsewhere
 * only existence is known (`kill(pid, 0)`), with no start time, so actions
 * that need to prove identity refuse there.
 */
import type { ProcessIdentity } from "../core/kill-policy.js";
import { hostPlatform } from "./select.js";

/** The process with this pid now, or undefined when there is none (the host platform's answer). */
export function readIdentity(pid: number, procRoot = "/proc"): ProcessIdentity | undefined {
  return hostPlatform().readIdentity(pid, procRoot);
}

/** True while the process with this pid (and start time, when given) runs. */
export function isAlive(pid: number, startTime?: number): boolean {
  const id = readIdentity(pid);
  if (!id) return false;
  return startTime === undefined || id.startTime === undefined || id.startTime === startTime;
}
