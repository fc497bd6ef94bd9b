/**
 * macOS as halfopen's host: lsof or netstat for the socket table, existence
 * of a pid only (no start time), no socket destroy, POSIX process groups.
 */
import type { HostPlatform } from "../host.js";
import { basicHost } from "../posix-host.js";

export const macosHost: HostPlatform = {
  ...basicHost,
  os: "darwin",
  processGroups: true,
  readerName: () => "macos",
};
