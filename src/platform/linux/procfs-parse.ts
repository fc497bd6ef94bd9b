/**
 * Pure parsers for /proc/PID files and /etc/passwd (proc(5), passwd(5)).
 * Process names and command lines are chosen by the process: they are kept
 * as-is here and sanitized only where they are displayed.
 */

/** Fields of /proc/PID/status that we use. */
export interface ProcStatus {
  name: string;
  tgid: number;
  ppid: number;
  uid: number;
}

/** Parse /proc/PID/status. Returns undefined if Tgid is missing (not a status file). */
export function parseProcStatus(text: string): ProcStatus | undefined {
  let name = "";
  let tgid = Number.NaN;
  let ppid = 0;
  let uid = -1;
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === "Name") name = unescapeStatusName(line.slice(colon + 1).replace(/^\t/, ""));
    else if (key === "Tgid") tgid = Number.parseInt(value, 10);
    else if (key === "PPid") ppid = Number.parseInt(value, 10);
    else if (key === "Uid") uid = Number.parseInt(value, 10);
  }
  if (!Number.isFinite(tgid)) return undefined;
  return { name, tgid, ppid, uid };
}

/** The kernel escapes "\n" as "\\n" and "\\" as "\\\\" in the Name line. */
function unescapeStatusName(s: string): string {
  return s.replace(/\\(n|\\)/g, (_m, c: string) => (c === "n" ? "\n" : "\\"));
}

/**
 * Start time (field 22, clock ticks after boot) from /proc/PID/stat. The comm
 * in field 2 may contain spaces and parentheses, so fields are counted after
 * the last ")".
 */
export function parseProcStatStartTime(text: string): number | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  const v = Number.parseInt(rest[19] ?? "", 10);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * /proc/PID/cmdline: NUL-separated arguments. Trailing empty entries are
 * dropped: a process that rewrites its title (setproctitle, Node's
 * process.title) pads the old argv area with NULs. Empty arguments inside
 * the list are kept.
 */
export function parseCmdline(buf: Buffer | string): string[] {
  const s = typeof buf === "string" ? buf : buf.toString("utf8");
  const parts = s.split("\0");
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** `net:[4026531840]` -> 4026531840. */
export function parseNamespaceLink(link: string): number | undefined {
  const m = /^\w+:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

/** uid -> user name from /etc/passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = Number.parseInt(f[2] ?? "", 10);
    if (f[0] && Number.isFinite(uid) && !users.has(uid)) users.set(uid, f[0]);
  }
  return users;
}
