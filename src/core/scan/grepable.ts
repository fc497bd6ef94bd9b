/**
 * nmap's grepable output (`-oG`), as nmap writes it: a comment line, per up
 * host a `Status: Up` line and (when ports were scanned) a `Ports:` line of
 * `port/state/protocol/owner/service/rpc/version/` entries, the most common
 * state other than open left out as `Ignored State: closed (N)` when 15 or
 * more ports share it (nmap's rule), and a closing comment. Tabs separate the
 * fields; what the target controls (names) has tabs, newlines and other
 * control characters replaced, so every host stays one line. Pure.
 */
import type { HostResult } from "./model.js";
import { serviceName } from "./services.js";

export interface GrepableScan {
  /** The command line, for the first comment. */
  args: string;
  version: string;
  startedAt: number;
  endedAt: number;
  hosts: readonly HostResult[];
  /** Addresses scanned (up and down). */
  total: number;
  /** False for a discovery-only scan (-sn): no Ports lines. */
  portScan: boolean;
  aborted?: boolean;
}

const IGNORED_AT = 15;

/** nmap leaves the service empty for a port its table does not name. */
function service(port: number): string {
  const name = serviceName(port);
  return name === "unknown" ? "" : name;
}

/** nmap's timestamp: `Sun Dec  6 06:10:00 2026` (local time, as ctime writes it). */
export function ctime(ms: number): string {
  const d = new Date(ms);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getDay()];
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getMonth()];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${day} ${month} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** One field's text: no tab, newline or other control character; no "/" or "," inside a port entry. */
// eslint-disable-next-line no-control-regex
const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");

export function grepable(s: GrepableScan): string {
  const lines = [`# halfopen ${s.version} scan initiated ${ctime(s.startedAt)} as: ${clean(s.args)}`];
  const up = s.hosts.filter((h) => h.status === "up");
  for (const h of up) {
    const head = `Host: ${h.address} (${clean(h.names?.[0] ?? "")})`;
    lines.push(`${head}\tStatus: Up`);
    if (!s.portScan) continue;
    const counts = new Map<string, number>();
    for (const p of h.ports) if (p.state !== "open" && p.state !== "unknown") counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
    const [ignored, ignoredCount] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? ["", 0];
    const skip = ignoredCount >= IGNORED_AT ? ignored : undefined;
    const entries = h.ports.filter((p) => p.state !== skip).map((p) => `${p.port}/${p.state}/tcp//${service(p.port)}///`);
    lines.push(`${head}\tPorts: ${entries.join(", ")}${skip === undefined ? "" : `\tIgnored State: ${skip} (${ignoredCount})`}`);
  }
  const seconds = ((s.endedAt - s.startedAt) / 1000).toFixed(2);
  const addresses = `${s.total} IP ${s.total === 1 ? "address" : "addresses"} (${up.length} ${up.length === 1 ? "host" : "hosts"} up)`;
  lines.push(`# halfopen done at ${ctime(s.endedAt)} -- ${addresses} scanned in ${seconds} seconds${s.aborted ? " (interrupted)" : ""}`);
  return `${lines.join("\n")}\n`;
}
