/**
 * Windows as halfopen's host: PowerShell or netstat for the socket table
 * (with Event 4226 from the System log), existence of a pid only (no start
 * time: actions that must prove identity refuse), no socket destroy, no
 * process groups, the database under %LOCALAPPDATA%.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { HostPlatform } from "../host.js";
import { basicHost } from "../posix-host.js";

export const windowsHost: HostPlatform = {
  ...basicHost,
  os: "win32",
  processGroups: false,
  readerName: () => "windows",
  defaultDbPath: (env) => join(env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "halfopen", "incidents.db"),
};
