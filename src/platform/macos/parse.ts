/**
 * Pure parsers for the macOS tools the macos source runs:
 *   - `lsof -nP -iTCP -sTCP:SYN_SENT -F pcLfPnT`: one field per line, a
 *     letter then the value; `p` starts a process, `f` a file; `n` is
 *     `local->remote`; `TST=` the TCP state;
 *   - `netstat -anv -p tcp`: columns found by the header, which differs by
 *     macOS release (`pid epid` on older ones, `rxbytes txbytes` added in
 *     macOS 15, or a `process:pid` column whose names may hold spaces).
 * Records that do not parse are counted and skipped, never fatal.
 */
import type { Endpoint, IpFamily } from "../../core/endpoint.js";
import type { ProcessInfo } from "../../core/events.js";
import type { SocketRow } from "../../core/socket-table.js";
import { TcpState } from "../../core/tcp-state.js";
import { ParseLog, type Parsed, tupleRow } from "../parsed.js";

/** BSD state names (netstat and lsof) -> kernel numbering. */
const BSD_STATES: ReadonlyMap<string, number> = new Map([
  ["CLOSED", TcpState.CLOSE],
  ["LISTEN", TcpState.LISTEN],
  ["SYN_SENT", TcpState.SYN_SENT],
  ["SYN_RCVD", TcpState.SYN_RECV],
  ["SYN_RECEIVED", TcpState.SYN_RECV],
  ["ESTABLISHED", TcpState.ESTABLISHED],
  ["CLOSE_WAIT", TcpState.CLOSE_WAIT],
  ["FIN_WAIT_1", TcpState.FIN_WAIT1],
  ["CLOSING", TcpState.CLOSING],
  ["LAST_ACK", TcpState.LAST_ACK],
  ["FIN_WAIT_2", TcpState.FIN_WAIT2],
  ["TIME_WAIT", TcpState.TIME_WAIT],
]);

/** `[::1]:80`, `127.0.0.1:80`, `*:80` (lsof -nP form). */
function parseLsofEndpoint(text: string): (Endpoint & { family: IpFamily }) | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  let address = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return undefined;
  if (address === "*") return { address: "0.0.0.0", port, family: 4 };
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return { address, port, family: 4 };
  if (address.includes(":") && /^[0-9a-fA-F:.]+(%\w+)?$/.test(address)) return { address: address.toLowerCase(), port, family: 6 };
  return undefined;
}

/** lsof -F output -> TCP rows with pids, and the processes it named. */
export function parseLsofF(text: string): Parsed<{ rows: SocketRow[]; processes: Map<number, ProcessInfo> }> {
  const rows: SocketRow[] = [];
  const processes = new Map<number, ProcessInfo>();
  const log = new ParseLog();
  /** The process of the last `p` line (undefined after a bad one). */
  let current: ProcessInfo | undefined;
  let file: { fd?: string; proto?: string; name?: string; state?: string } | undefined;

  const flush = () => {
    if (!file || current === undefined) return;
    const f = file;
    file = undefined;
    if (f.proto !== undefined && f.proto !== "TCP") return;
    if (!f.name?.includes("->")) {
      if (f.state === "LISTEN" || f.name === undefined) return; // a listener has no remote end
    }
    const [l, r] = (f.name ?? "").split("->");
    const local = parseLsofEndpoint(l ?? "");
    const remote = r === undefined ? { address: "0.0.0.0", port: 0, family: local?.family ?? 4 } : parseLsofEndpoint(r);
    if (!local || !remote) {
      log.skip(`n${f.name ?? ""}`);
      return;
    }
    const row = tupleRow(local.family, local, remote, log.state(f.state ?? "(none)", BSD_STATES.get(f.state ?? "")));
    // One process may hold the same 4-tuple twice (dup'ed fds): the fd makes the key unique.
    row.key = `${current.pid}/${f.fd ?? "?"}:${row.key}`;
    row.pid = current.pid;
    rows.push(row);
  };

  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "") continue;
    const tag = line[0];
    const value = line.slice(1);
    switch (tag) {
      case "p": {
        flush();
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
          current = undefined;
          log.skip(line);
          break;
        }
        current = { pid: n, name: "?" };
        processes.set(n, current);
        break;
      }
      case "c":
        if (current) current.name = value;
        break;
      case "L":
        if (current) current.user = value;
        break;
      case "u": {
        const uid = Number(value);
        if (current && Number.isSafeInteger(uid)) current.uid = uid;
        break;
      }
      case "R": {
        const ppid = Number(value);
        if (current && Number.isSafeInteger(ppid)) current.ppid = ppid;
        break;
      }
      case "f":
        flush();
        file = { fd: value };
        break;
      case "P":
        if (file) file.proto = value;
        break;
      case "n":
        if (file) file.name = value;
        break;
      case "T":
        if (file && value.startsWith("ST=")) file.state = value.slice(3);
        break;
      case "t":
      case "g":
      case "a":
      case "l":
        break;
      default:
        log.skip(line);
    }
  }
  flush();
  return log.result({ rows, processes });
}

/** `127.0.0.1.8000`, `*.80`, `::1.5002`, `fe80::1%lo0.123`, `*.*` -> endpoint (port 0 for `*`). */
function parseBsdEndpoint(text: string, family: IpFamily): Endpoint | undefined {
  const dot = text.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const host = text.slice(0, dot);
  const portText = text.slice(dot + 1);
  const port = portText === "*" ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return undefined;
  if (host === "*") return { address: family === 6 ? "::" : "0.0.0.0", port };
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return { address: host, port };
  if (host.includes(":") && /^[0-9a-fA-F:.]+(%\w+)?$/.test(host)) return { address: host.toLowerCase(), port };
  return undefined;
}

/**
 * `netstat -anv -p tcp`: TCP rows with pids. The pid column is located by
 * the header (`pid`, or `process:pid` whose value is `name:pid` and may hold
 * spaces). Without a header that names a pid column, rows have no pid.
 */
export function parseNetstatAnv(text: string): Parsed<{ rows: SocketRow[]; processes: Map<number, ProcessInfo> }> {
  const rows: SocketRow[] = [];
  const processes = new Map<number, ProcessInfo>();
  const log = new ParseLog();
  // Column of `pid`, or of `process:pid`, from the header (-1: none).
  let pidAt = -1;
  let namedAt = -1;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("Proto")) {
      const columns = line.replace("Local Address", "Local_Address").replace("Foreign Address", "Foreign_Address").split(/\s+/);
      pidAt = columns.indexOf("pid");
      namedAt = columns.indexOf("process:pid");
      continue;
    }
    if (!/^tcp(4|6|46)?\s/.test(line)) continue;
    const t = line.split(/\s+/);
    const proto = t[0] ?? "";
    const family: IpFamily = proto === "tcp6" ? 6 : 4;
    const localText = t[3] ?? "";
    const local = parseBsdEndpoint(localText, localText.includes(":") ? 6 : family);
    const remoteText = t[4] ?? "";
    const remote = parseBsdEndpoint(remoteText, remoteText.includes(":") ? 6 : family);
    const stateWord = t[5] ?? "";
    if (!local || !remote) {
      log.skip(line);
      continue;
    }
    const row = tupleRow(local.address.includes(":") ? 6 : 4, local, remote, log.state(stateWord, BSD_STATES.get(stateWord)));
    if (pidAt >= 0) {
      const pid = Number(t[pidAt]);
      if (!Number.isSafeInteger(pid)) {
        log.skip(line);
        continue;
      }
      row.pid = pid;
    } else if (namedAt >= 0) {
      // Tokens from namedAt on: the name (maybe with spaces) ending in ":<pid>".
      let end = namedAt;
      while (end < t.length && !/:\d+$/.test(t[end] ?? "")) end++;
      const m = /^(.*):(\d+)$/.exec(t.slice(namedAt, end + 1).join(" "));
      if (!m) {
        log.skip(line);
        continue;
      }
      row.pid = Number(m[2]);
      processes.set(row.pid, { pid: row.pid, name: m[1] ?? "?" });
    }
    rows.push(row);
  }
  return log.result({ rows, processes });
}
