/**
 * Running the OS's own tools (netstat, powershell, tasklist, wevtutil, lsof):
 * always an argument array, never a shell string, so nothing from the
 * command line or from process names can be interpreted by a shell.
 * A missing tool is HALFOPEN_TOOL_MISSING; a failure HALFOPEN_TOOL_FAILED.
 */
import { execFile } from "node:child_process";
import { ErrorCodes, HalfOpenError } from "../errors.js";

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  /** Killed after this long. Default 30 s. */
  timeoutMs?: number;
  /** Exit codes that still mean success (netstat-like tools). Default [0]. */
  okCodes?: number[];
}

/** Runs one tool and returns its output; injectable so sources can be tested off their OS. */
export type ToolRunner = (command: string, args: readonly string[], options?: ToolOptions) => Promise<ToolResult>;

export const runTool: ToolRunner = (command, args, options = {}) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: options.timeoutMs ?? 30_000, windowsHide: true, shell: false },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const e = error as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (e.code === "ENOENT") {
          reject(new HalfOpenError(ErrorCodes.TOOL_MISSING, `Cannot run "${command}": it is not installed or not on PATH`));
          return;
        }
        if (typeof e.code === "number" && (options.okCodes ?? [0]).includes(e.code)) {
          resolve({ stdout, stderr });
          return;
        }
        const why = e.killed ? `killed after ${options.timeoutMs ?? 30_000} ms` : `${String(stderr || e.message).trim().split("\n")[0] ?? ""}`;
        reject(new HalfOpenError(ErrorCodes.TOOL_FAILED, `Cannot read the output of "${command} ${args.join(" ")}": ${why}`));
      },
    );
  });
