/**
 * Linux as halfopen's host: tracefs for `watch` (procfs polling as the
 * fallback and for `ls`), identity from /proc/PID/status and stat (with the
 * start time that proves a pid was not reused), socket destroy for `close`,
 * the native helper's raw discovery, open-file limit and stdout watch.
 * Modules are loaded when used, so a command loads only what it needs.
 */
import type { ProcessIdentity } from "../../core/kill-policy.js";
import type { HostPlatform } from "../host.js";
import { basicHost } from "../posix-host.js";
import { parseProcStatStartTime, parseProcStatus } from "./procfs-parse.js";
import { tryRead } from "./process-info.js";

/** Who has `pid` now, from /proc (a thread id that is not a thread group leader is no process). */
export function readLinuxIdentity(pid: number, procRoot = "/proc"): ProcessIdentity | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const status = parseProcStatus(tryRead(`${procRoot}/${pid}/status`) ?? "");
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

export const linuxHost: HostPlatform = {
  ...basicHost,
  os: "linux",
  tracefs: true,
  processGroups: true,
  readerName: () => "procfs",
  readIdentity: readLinuxIdentity,
  async readProcessDetails(pid) {
    const { ProcessInfoCache } = await import("./process-info.js");
    return new ProcessInfoCache().resolve(pid);
  },
  async closeHalfOpen(pid, filter, found) {
    const { closeHalfOpen } = await import("./close-sockets.js");
    return closeHalfOpen(pid, filter, undefined, found);
  },
  async raiseFileLimit() {
    const { loadNative } = await import("./native.js");
    const helper = loadNative();
    if (!helper) return "the native helper is not built: the open-file limit stays as it is (ulimit -n)";
    try {
      helper.raiseNofileLimit();
      return undefined;
    } catch (e) {
      return `cannot raise the open-file limit: ${(e as Error).message}`;
    }
  },
  /**
   * The native poll thread sees POLLERR on a FIFO's write end, or end-of-file
   * (POLLIN, POLLHUP) on a socket whose peer closed (a parent's stdio pipe is
   * a socket pair; nothing reads from our stdout, so readable means closed).
   * Without the helper, the first failed write tells.
   */
  async watchStdoutClosed(onClosed) {
    const { fstatSync } = await import("node:fs");
    let pipe: boolean;
    try {
      const st = fstatSync(1);
      pipe = st.isFIFO() || st.isSocket();
    } catch {
      return () => {};
    }
    if (!pipe) return () => {};
    const { loadNative } = await import("./native.js");
    const helper = loadNative();
    if (!helper) return () => {};
    // A thread of its own: libuv watches fd 1 too when Node writes to a pipe (two watchers of one fd break the loop).
    const w = helper.watchReadable(Int32Array.of(1), onClosed, true);
    return () => w.stop();
  },
  async loadHostDiscovery() {
    const { loadNative } = await import("./native.js");
    return loadNative();
  },
  async loadEnforcement() {
    const { openEnforcement } = await import("./enforcement.js");
    return openEnforcement;
  },
};
