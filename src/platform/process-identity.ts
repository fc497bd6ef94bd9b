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
import { parseProcStatStartTime, parseProcStatus } from "./linux/procfs-parse.js";
import { tryRead } from "./linux/process-info.js";

/** The process with this pid now, or undefined when there is none. */
export function readIdentity(pid: number, procRoot = "/proc"): ProcessIdentity | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (process.platform === "linux") {
    const status = parseProcStatus(tryRead(`${procRoot}/${pid}/status`) ?? "");
    // A thread id also has a /proc entry; only a thread group leader is a process.
    if (!status || status.tgid !== pid) return undefined;
    const name = (tryRead(`${procRoot}/${pid}/comm`) ?? status.name).replace(/\n$/, "");
    const id: ProcessIdentity = { pid, name, ppid: status.ppid };
    if (status.uid >= 0) id.uid = status.uid;
    const stat = tryRead(`${procRoot}/${pid}/stat`) ?? "";
    const start = parseProcStatStartTime(stat);
    if (start !== undefined) id.startTime = start;
    const close = stat.lastIndexOf(")");
    if (close >= 0 && stat.length > close + 2) id.state = stat.charAt(close + 2);
    return id;
  }
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  return { pid, name: "?" };
}

/** True while the process with this pid (and start time, when given) runs. */
export function isAlive(pid: number, startTime?: number): boolean {
  const id = readIdentity(pid);
  if (!id) return false;
  return startTime === undefined || id.startTime === undefined || id.startTime === startTime;
}
