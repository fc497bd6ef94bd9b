/**
 * Pure parsers for the Windows tools the windows source runs:
 *   - `netstat -ano -p tcp` / `-p tcpv6` (state names localized on
 *     non-English Windows, and possibly several words: "À L'ÉCOUTE");
 *   - `tasklist /fo csv /nh` (image names may hold commas and spaces; the
 *     memory column holds the locale's digit grouping);
 *   - PowerShell `Get-NetTCPConnection ... | ConvertTo-Json` (numeric or named
 *     states, `\/Date(ms)\/` or ISO times, one object or an array);
 *   - Event 4226 as `wevtutil qe System /f:xml` prints it.
 * Lines or records that do not parse are counted and skipped, never fatal.
 */
import { createRequire } from "node:module";
import { parse as parseCsv } from "csv-parse/sync";
import type { XMLParser } from "fast-xml-parser";
import type { Endpoint, IpFamily } from "../../core/endpoint.js";
import type { SocketRow } from "../../core/socket-table.js";
import { TcpState } from "../../core/tcp-state.js";
import { ParseLog, type Parsed, tupleRow } from "../parsed.js";

export type { Parsed } from "../parsed.js";

/**
 * Normalizes a state word for lookup: upper case, accents removed, and each
 * run of other non-ASCII characters (a mis-decoded OEM code page: "ABH\uFFFDREN")
 * as one ".".
 */
export function normalizeStateWord(word: string): string {
  return word
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toUpperCase()
    .replace(/[^A-Z0-9_' ]+/g, ".")
    .replace(/\s+/g, " ")
    .trim();
}

/** Equal length, and equal wherever neither side has a "." (an undecodable letter). */
function sameWord(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i] !== "." && b[i] !== ".") return false;
  return true;
}

/**
 * netstat's state words, English and localized (each seen in published
 * netstat output; see test/fixtures/windows/README.md), normalized.
 */
const NETSTAT_STATES: ReadonlyMap<string, number> = new Map(
  (
    [
      ["CLOSED", TcpState.CLOSE],
      ["LISTENING", TcpState.LISTEN],
      ["SYN_SENT", TcpState.SYN_SENT],
      ["SYN_RECEIVED", TcpState.SYN_RECV],
      ["ESTABLISHED", TcpState.ESTABLISHED],
      ["FIN_WAIT_1", TcpState.FIN_WAIT1],
      ["FIN_WAIT_2", TcpState.FIN_WAIT2],
      ["CLOSE_WAIT", TcpState.CLOSE_WAIT],
      ["CLOSING", TcpState.CLOSING],
      ["LAST_ACK", TcpState.LAST_ACK],
      ["TIME_WAIT", TcpState.TIME_WAIT],
      ["DELETE_TCB", TcpState.CLOSE],
      ["BOUND", TcpState.CLOSE],
      // German
      ["ABHÖREN", TcpState.LISTEN],
      ["ABHOEREN", TcpState.LISTEN],
      ["HERGESTELLT", TcpState.ESTABLISHED],
      ["SYN_GESENDET", TcpState.SYN_SENT],
      ["SYN_EMPFANGEN", TcpState.SYN_RECV],
      ["WARTEND", TcpState.TIME_WAIT],
      ["SCHLIESSEN_WARTEN", TcpState.CLOSE_WAIT],
      ["SCHLIESSEND", TcpState.CLOSING],
      // French
      ["À L'ÉCOUTE", TcpState.LISTEN],
      ["ÉCOUTE", TcpState.LISTEN],
      ["ÉTABLI", TcpState.ESTABLISHED],
      // Spanish, Italian, Portuguese
      ["EN ESCUCHA", TcpState.LISTEN],
      ["ESCUCHANDO", TcpState.LISTEN],
      ["ESTABLECIDO", TcpState.ESTABLISHED],
      ["IN ASCOLTO", TcpState.LISTEN],
      ["STABILITA", TcpState.ESTABLISHED],
      ["ESCUTANDO", TcpState.LISTEN],
      ["ESTABELECIDA", TcpState.ESTABLISHED],
    ] as const
  ).map(([w, s]) => [normalizeStateWord(w), s]),
);

/** Kernel state number of a netstat state word, or undefined if not known. */
export function netstatState(word: string): number | undefined {
  const n = normalizeStateWord(word);
  const exact = NETSTAT_STATES.get(n);
  if (exact !== undefined) return exact;
  for (const [known, state] of NETSTAT_STATES) if (sameWord(known, n)) return state;
  return undefined;
}

/** `192.168.1.5:80`, `[::1]:80`, `[fe80::1%7]:80` -> endpoint; undefined for `*:*` or names. */
export function parseWindowsEndpoint(text: string): (Endpoint & { family: IpFamily }) | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  let address = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65_535) return undefined;
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return { address, port, family: 4 };
  if (/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(address) && address.includes(":")) return { address: address.toLowerCase(), port, family: 6 };
  return undefined;
}

/**
 * `netstat -ano` (or `-an`, `-o`): TCP rows. UDP rows, headers and blank lines
 * are ignored; TCP rows that do not parse are skipped and counted; state
 * words not in the table are reported in `unknownStates` and kept with state 0.
 */
export function parseNetstatAno(text: string): Parsed<SocketRow[]> {
  const rows: SocketRow[] = [];
  const log = new ParseLog();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!/^TCP\s/i.test(line)) continue;
    const t = line.split(/\s+/);
    const hasPid = t.length >= 5 && /^\d+$/.test(t[t.length - 1] ?? "");
    const stateTokens = t.slice(3, hasPid ? -1 : undefined);
    const local = parseWindowsEndpoint(t[1] ?? "");
    const remote = parseWindowsEndpoint(t[2] ?? "");
    if (!local || !remote || stateTokens.length === 0) {
      log.skip(line);
      continue;
    }
    const word = stateTokens.join(" ");
    const row = tupleRow(local.family, local, remote, log.state(word, netstatState(word)));
    if (hasPid) row.pid = Number(t[t.length - 1]);
    rows.push(row);
  }
  return log.result(rows);
}

/** One process of `tasklist /fo csv /nh`. */
export interface TasklistEntry {
  pid: number;
  name: string;
  session?: string;
}

/** `tasklist /fo csv /nh` (with or without the header row). Lines that are not CSV rows (INFO: ...) are skipped. */
export function parseTasklistCsv(text: string): Parsed<Map<number, TasklistEntry>> {
  const out = new Map<number, TasklistEntry>();
  const log = new ParseLog();
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    let fields: string[] | undefined;
    try {
      const records = parseCsv(line, { relax_column_count: true }) as string[][];
      fields = records[0];
    } catch {
      fields = undefined;
    }
    const pid = Number(fields?.[1]);
    if (!fields || fields.length < 2 || !/^\d+$/.test(fields[1] ?? "") || !Number.isSafeInteger(pid)) {
      if (!/^"?Image Name"?,/i.test(line)) log.skip(line);
      continue;
    }
    const entry: TasklistEntry = { pid, name: fields[0] ?? "?" };
    if (fields[2]) entry.session = fields[2];
    out.set(pid, entry);
  }
  return log.result(out);
}

/** MSFT_NetTCPConnection State values (numbers as ConvertTo-Json writes them, names with -EnumsAsStrings). */
const PS_STATES: ReadonlyMap<string, number> = new Map([
  ["1", TcpState.CLOSE],
  ["CLOSED", TcpState.CLOSE],
  ["2", TcpState.LISTEN],
  ["LISTEN", TcpState.LISTEN],
  ["3", TcpState.SYN_SENT],
  ["SYNSENT", TcpState.SYN_SENT],
  ["4", TcpState.SYN_RECV],
  ["SYNRECEIVED", TcpState.SYN_RECV],
  ["5", TcpState.ESTABLISHED],
  ["ESTABLISHED", TcpState.ESTABLISHED],
  ["6", TcpState.FIN_WAIT1],
  ["FINWAIT1", TcpState.FIN_WAIT1],
  ["7", TcpState.FIN_WAIT2],
  ["FINWAIT2", TcpState.FIN_WAIT2],
  ["8", TcpState.CLOSE_WAIT],
  ["CLOSEWAIT", TcpState.CLOSE_WAIT],
  ["9", TcpState.CLOSING],
  ["CLOSING", TcpState.CLOSING],
  ["10", TcpState.LAST_ACK],
  ["LASTACK", TcpState.LAST_ACK],
  ["11", TcpState.TIME_WAIT],
  ["TIMEWAIT", TcpState.TIME_WAIT],
  ["12", TcpState.CLOSE],
  ["DELETETCB", TcpState.CLOSE],
  ["100", TcpState.CLOSE],
  ["BOUND", TcpState.CLOSE],
]);

/** `\/Date(1700000000000)\/` (Windows PowerShell 5.1) or an ISO string (PowerShell 7) -> ms since the epoch. */
export function parsePowerShellDate(value: unknown): number | undefined {
  if (typeof value === "string") {
    const m = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/.exec(value);
    if (m) return Number(m[1]);
    const t = Date.parse(value);
    return Number.isFinite(t) ? t : undefined;
  }
  if (value && typeof value === "object" && "value" in value) return parsePowerShellDate((value as { value: unknown }).value);
  return undefined;
}

/** Processes of the combined PowerShell query (`Get-Process | Select Id, ProcessName`). */
export interface PowerShellProcess {
  pid: number;
  name: string;
  user?: string;
}

function asArray(v: unknown): unknown[] {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * The JSON of `Get-NetTCPConnection | Select-Object LocalAddress, LocalPort,
 * RemoteAddress, RemotePort, State, OwningProcess, CreationTime | ConvertTo-Json`,
 * or halfopen's combined form `{ "connections": [...], "processes": [...] }`.
 * `nowWall` turns CreationTime into an age.
 */
export function parseNetTcpConnectionJson(
  text: string,
  nowWall: number,
): Parsed<{ rows: SocketRow[]; processes: Map<number, PowerShellProcess> }> {
  const body = text.replace(/^\uFEFF/, "").trim();
  const rows: SocketRow[] = [];
  const processes = new Map<number, PowerShellProcess>();
  const log = new ParseLog();
  if (body === "") return log.result({ rows, processes });
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    log.skip(body);
    return log.result({ rows, processes });
  }
  const combined = doc !== null && typeof doc === "object" && !Array.isArray(doc) && "connections" in doc;
  const connections = combined ? asArray((doc as { connections: unknown }).connections) : asArray(doc);
  for (const c of connections) {
    const o = (c ?? {}) as Record<string, unknown>;
    const local = parseWindowsEndpoint(`[${String(o.LocalAddress ?? "")}]:${String(o.LocalPort ?? "")}`);
    const remote = parseWindowsEndpoint(`[${String(o.RemoteAddress ?? "")}]:${String(o.RemotePort ?? "")}`);
    const pid = Number(o.OwningProcess);
    if (!local || !remote || !Number.isSafeInteger(pid)) {
      log.skip(JSON.stringify(c));
      continue;
    }
    const stateKey = String(o.State ?? "").toUpperCase().replace(/[^A-Z0-9]/g, "");
    const row = tupleRow(local.family, local, remote, log.state(String(o.State), PS_STATES.get(stateKey)));
    row.pid = pid;
    const created = parsePowerShellDate(o.CreationTime);
    if (created !== undefined) row.ageMs = Math.max(0, nowWall - created);
    rows.push(row);
  }
  if (combined) {
    for (const p of asArray((doc as { processes?: unknown }).processes)) {
      const o = (p ?? {}) as Record<string, unknown>;
      const pid = Number(o.Id);
      if (!Number.isSafeInteger(pid)) continue;
      const entry: PowerShellProcess = { pid, name: String(o.ProcessName ?? "?") };
      if (typeof o.UserName === "string" && o.UserName) entry.user = o.UserName;
      processes.set(pid, entry);
    }
  }
  return log.result({ rows, processes });
}

/** One Event 4226 record. */
export interface Event4226 {
  recordId: number;
  /** ms since the epoch. */
  timeWall: number;
  provider: string;
}

let xml: XMLParser | undefined;

/** The XML parser, loaded on first use (only the Windows source reads XML). */
function xmlParser(): XMLParser {
  const { XMLParser: Parser } = createRequire(import.meta.url)("fast-xml-parser") as typeof import("fast-xml-parser");
  xml ??= new Parser({ ignoreAttributes: false, attributeNamePrefix: "@", parseTagValue: false, isArray: (name) => name === "Event" });
  return xml;
}

/**
 * `wevtutil qe System /q:"*[System[Provider[@Name='Tcpip'] and (EventID=4226)]]" /f:xml`
 * prints one `<Event>` element per record, with no root element. Records
 * whose EventID is not 4226 are ignored; unreadable ones are skipped.
 */
export function parseWevtutil4226(text: string): Parsed<Event4226[]> {
  const out: Event4226[] = [];
  const log = new ParseLog();
  const body = text.replace(/^\uFEFF/, "").replace(/<\?xml[^>]*\?>/g, "").trim();
  if (body === "") return log.result(out);
  let doc: { Events?: { Event?: unknown[] } };
  try {
    doc = xmlParser().parse(`<Events>${body}</Events>`) as typeof doc;
  } catch {
    log.skip(body);
    return log.result(out);
  }
  for (const ev of doc.Events?.Event ?? []) {
    const sys = ((ev ?? {}) as { System?: Record<string, unknown> }).System ?? {};
    const idNode = sys.EventID;
    const id = Number(typeof idNode === "object" && idNode !== null ? (idNode as Record<string, unknown>)["#text"] : idNode);
    const provider = String(((sys.Provider ?? {}) as Record<string, unknown>)["@Name"] ?? "");
    const time = Date.parse(String(((sys.TimeCreated ?? {}) as Record<string, unknown>)["@SystemTime"] ?? ""));
    const recordId = Number(sys.EventRecordID);
    if (!Number.isFinite(time) || !Number.isSafeInteger(recordId) || !Number.isFinite(id)) {
      log.skip(JSON.stringify(ev));
      continue;
    }
    if ((id & 0xffff) !== 4226) continue;
    out.push({ recordId, timeWall: time, provider });
  }
  return log.result(out);
}
