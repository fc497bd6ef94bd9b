/**
 * WindowsReader: the TCP table on Windows through the OS's own tools, and
 * Event 4226 from the System log, joined the way the seed's LogMonitor did.
 *
 * Mechanism: PowerShell `Get-NetTCPConnection` (states not localized,
 * CreationTime gives each attempt's age) with `Get-Process` for names, in one
 * PowerShell run per read. Where PowerShell or the NetTCPIP module is
 * missing (Windows XP, Server 2003, 7 without WMF), `netstat -ano -p tcp` and
 * `-p tcpv6` joined with `tasklist /fo csv /nh`. With `osEvents`, each read
 * also asks `wevtutil` for Event 4226 records newer than the last one seen.
 *
 * Every tool is run with an argument array (tools.ts), never through a shell.
 */
import type { OsLimitEvent, ProcessInfo } from "../../core/events.js";
import type { SocketRow, SocketSnapshot } from "../../core/socket-table.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { ReadOptions, SocketRead, SocketReader } from "../polling-source.js";
import { type ToolRunner, runTool } from "../tools.js";
import { noteSkipped } from "../parsed.js";
import { parseNetTcpConnectionJson, parseNetstatAno, parseTasklistCsv, parseWevtutil4226 } from "./parse.js";

export interface WindowsReaderOptions {
  run?: ToolRunner;
  /** Use netstat and tasklist even where PowerShell works. */
  forceNetstat?: boolean;
  /** Read Event 4226 records (watch). */
  osEvents?: boolean;
  /** Wall clock (tests). */
  nowWall?: () => number;
}

/** The PowerShell script; `$all` selects every state. No user input is ever put into it. */
export function powerShellScript(allStates: boolean): string {
  const filter = allStates ? "" : " -State SynSent";
  return [
    "$ErrorActionPreference = 'Stop'",
    `$c = @(Get-NetTCPConnection${filter} -ErrorAction SilentlyContinue | Select-Object LocalAddress, LocalPort, RemoteAddress, RemotePort, @{n='State';e={[int]$_.State}}, OwningProcess, @{n='CreationTime';e={$_.CreationTime.ToUniversalTime().ToString('o')}})`,
    "$ids = @($c | ForEach-Object { $_.OwningProcess } | Sort-Object -Unique)",
    "$p = @(); if ($ids.Count -gt 0) { $p = @(Get-Process -Id $ids -ErrorAction SilentlyContinue | Select-Object Id, ProcessName) }",
    "[pscustomobject]@{ connections = $c; processes = $p } | ConvertTo-Json -Depth 4 -Compress",
  ].join("; ");
}

export const WEVTUTIL_ARGS = [
  "qe",
  "System",
  "/q:*[System[Provider[@Name='Tcpip'] and (EventID=4226)]]",
  "/f:xml",
  "/rd:true",
  "/c:50",
] as const;

export class WindowsReader implements SocketReader {
  readonly name = "windows";
  readonly caveats: string[] = [];
  readonly #run: ToolRunner;
  readonly #osEvents: boolean;
  readonly #nowWall: () => number;
  #mode: "powershell" | "netstat";
  #lastRecord: number | undefined;
  #eventsFailed = false;

  constructor(options: WindowsReaderOptions = {}) {
    this.#run = options.run ?? runTool;
    this.#mode = options.forceNetstat ? "netstat" : "powershell";
    this.#osEvents = options.osEvents ?? false;
    this.#nowWall = options.nowWall ?? Date.now;
  }

  /** "powershell" or "netstat", after probe(). */
  get mode(): string {
    return this.#mode;
  }

  async probe(): Promise<void> {
    if (this.#mode === "powershell") {
      try {
        await this.#powershell(false);
      } catch (e) {
        if (!(e instanceof HalfOpenError)) throw e;
        this.#mode = "netstat";
        this.caveats.push(`PowerShell Get-NetTCPConnection is not usable (${e.message}); using netstat -ano and tasklist, whose state names are localized`);
      }
    }
    if (this.#mode === "netstat") await this.#run("netstat", ["-ano", "-p", "tcp"]);
    if (this.#osEvents) {
      try {
        const first = parseWevtutil4226((await this.#run("wevtutil", [...WEVTUTIL_ARGS])).stdout);
        this.#lastRecord = Math.max(0, ...first.value.map((e) => e.recordId));
      } catch (e) {
        if (!(e instanceof HalfOpenError)) throw e;
        this.#eventsFailed = true;
        this.caveats.push(`Event 4226 cannot be read from the System log (${e.message}); incidents will not list the OS's own events`);
      }
    }
  }

  async read(now: number, options: ReadOptions = {}): Promise<SocketRead> {
    const warnings: string[] = [];
    let rows: SocketRow[];
    const processes = new Map<number, ProcessInfo>();
    if (this.#mode === "powershell") {
      const parsed = await this.#powershell(options.allStates ?? false);
      rows = parsed.value.rows;
      for (const p of parsed.value.processes.values()) processes.set(p.pid, { pid: p.pid, name: p.name, ...(p.user ? { user: p.user } : {}) });
      noteSkipped(parsed, "Get-NetTCPConnection", warnings);
    } else {
      rows = [];
      for (const proto of ["tcp", "tcpv6"]) {
        const parsed = parseNetstatAno((await this.#run("netstat", ["-ano", "-p", proto])).stdout);
        noteSkipped(parsed, `netstat -ano -p ${proto}`, warnings);
        for (const r of parsed.value) if (options.allStates || r.state === 2) rows.push(r);
      }
      const tasks = parseTasklistCsv((await this.#run("tasklist", ["/fo", "csv", "/nh"])).stdout);
      noteSkipped(tasks, "tasklist /fo csv /nh", warnings);
      for (const t of tasks.value.values()) processes.set(t.pid, { pid: t.pid, name: t.name });
    }
    const snapshot: SocketSnapshot = { time: now, source: this.name, rows, processes, warnings };
    const read: SocketRead = { snapshot };
    if (this.#mode === "netstat") read.alivePids = new Set(processes.keys());
    if (this.#osEvents && !this.#eventsFailed) read.osEvents = await this.#newEvents(now, warnings);
    return read;
  }

  async #powershell(allStates: boolean): Promise<ReturnType<typeof parseNetTcpConnectionJson>> {
    const { stdout } = await this.#run("powershell", ["-NoProfile", "-NonInteractive", "-Command", powerShellScript(allStates)]);
    const parsed = parseNetTcpConnectionJson(stdout, this.#nowWall());
    if (parsed.skipped > 0 && parsed.value.rows.length === 0 && stdout.trim() !== "") {
      throw new HalfOpenError(ErrorCodes.TOOL_FAILED, `Cannot read the output of PowerShell Get-NetTCPConnection: "${parsed.firstSkipped ?? ""}"`);
    }
    return parsed;
  }

  async #newEvents(now: number, warnings: string[]): Promise<OsLimitEvent[]> {
    let parsed: ReturnType<typeof parseWevtutil4226>;
    try {
      parsed = parseWevtutil4226((await this.#run("wevtutil", [...WEVTUTIL_ARGS])).stdout);
    } catch (e) {
      if (!(e instanceof HalfOpenError)) throw e;
      warnings.push(`Event 4226 could not be read this time: ${e.message}`);
      return [];
    }
    noteSkipped(parsed, "wevtutil", warnings);
    const last = this.#lastRecord ?? 0;
    const fresh = parsed.value.filter((e) => e.recordId > last).sort((a, b) => a.recordId - b.recordId);
    if (fresh.length > 0) this.#lastRecord = fresh[fresh.length - 1]?.recordId;
    const offset = this.#nowWall() - now;
    return fresh.map((e) => ({
      type: "os-limit",
      time: Math.min(now, e.timeWall - offset),
      timeWall: e.timeWall,
      source: `Windows Event 4226 (${e.provider || "Tcpip"})`,
      recordId: e.recordId,
    }));
  }
}
