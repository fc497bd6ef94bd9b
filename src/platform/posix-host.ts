/**
 * What every OS without a richer implementation does: a pid's existence
 * from `kill(pid, 0)` (no start time, so actions that must prove identity
 * refuse), no socket destroy, no open-file limit to raise, no stdout watch,
 * no raw discovery, and the XDG database path. The per-OS hosts build on it.
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import type { HostPlatform } from "./host.js";

export const basicHost: Omit<HostPlatform, "os" | "readerName" | "processGroups"> = {
  tracefs: false,
  readIdentity(pid) {
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EPERM") return undefined;
    }
    return { pid, name: "?" };
  },
  readProcessDetails: async () => undefined,
  closeHalfOpen: async () => {
    throw new HalfOpenError(ErrorCodes.UNSUPPORTED, "halfopen close works on Linux only (it uses the kernel's socket destroy); end the process instead with halfopen kill");
  },
  raiseFileLimit: async () => undefined,
  watchStdoutClosed: async () => () => {},
  loadHostDiscovery: async () => undefined,
  loadEnforcement: async () => undefined,
  defaultDbPath(env, uid) {
    if (uid === 0) return "/var/lib/halfopen/incidents.db";
    const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
    return join(state, "halfopen", "incidents.db");
  },
};
