/**
 * MacosReader: the TCP table on macOS through its own tools: `lsof -nP
 * -iTCP -sTCP:SYN_SENT -F pcLfPnT` (pid, name and user with each socket),
 * or, where lsof is missing, `netstat -anv -p tcp` (pid column on macOS 10.11
 * and later; names only where the header has a `process:pid` column).
 * Run with argument arrays (tools.ts), never through a shell.
 */
import type { SocketSnapshot } from "../../core/socket-table.js";
import { HalfOpenError } from "../../errors.js";
import type { ReadOptions, SocketRead, SocketReader } from "../polling-source.js";
import { type ToolRunner, runTool } from "../tools.js";
import { noteSkipped } from "../parsed.js";
import { parseLsofF, parseNetstatAnv } from "./parse.js";

export interface MacosReaderOptions {
  run?: ToolRunner;
  /** Use netstat even where lsof exists. */
  forceNetstat?: boolean;
}

export function lsofArgs(allStates: boolean): string[] {
  return ["-nP", "-iTCP", ...(allStates ? [] : ["-sTCP:SYN_SENT"]), "-F", "pcLfPnT"];
}

export class MacosReader implements SocketReader {
  readonly name = "macos";
  readonly caveats: string[] = [];
  readonly #run: ToolRunner;
  #mode: "lsof" | "netstat";

  constructor(options: MacosReaderOptions = {}) {
    this.#run = options.run ?? runTool;
    this.#mode = options.forceNetstat ? "netstat" : "lsof";
  }

  get mode(): string {
    return this.#mode;
  }

  async probe(): Promise<void> {
    if (this.#mode === "lsof") {
      try {
        await this.#run("lsof", lsofArgs(false), { okCodes: [0, 1] });
        return;
      } catch (e) {
        if (!(e instanceof HalfOpenError)) throw e;
        this.#mode = "netstat";
        this.caveats.push(`lsof is not usable (${e.message}); using netstat -anv, which names processes only on recent macOS`);
      }
    }
    await this.#run("netstat", ["-anv", "-p", "tcp"]);
  }

  async read(now: number, options: ReadOptions = {}): Promise<SocketRead> {
    const warnings: string[] = [];
    const allStates = options.allStates ?? false;
    const parsed =
      this.#mode === "lsof"
        ? parseLsofF((await this.#run("lsof", lsofArgs(allStates), { okCodes: [0, 1] })).stdout)
        : parseNetstatAnv((await this.#run("netstat", ["-anv", "-p", "tcp"])).stdout);
    noteSkipped(parsed, this.#mode === "lsof" ? "lsof -F" : "netstat -anv", warnings);
    const rows = parsed.value.rows.filter((r) => allStates || r.state === 2);
    const snapshot: SocketSnapshot = { time: now, source: this.name, rows, processes: parsed.value.processes, warnings };
    return { snapshot };
  }
}
