/**
 * `halfopen kill` and `halfopen close`: end the culprit (the seed's "End
 * Process"), or only its half-open attempts. Both ask first on a terminal;
 * in scripts `--yes` is required, never assumed.
 */
import type { Command } from "commander";
import { SIGNALS, type SignalName } from "../../core/kill-policy.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { parseDestination, parseIntOption, parseSecondsOption } from "../options.js";

export interface KillOptions {
  yes?: boolean;
  signal: SignalName;
  wait: number;
  json?: boolean;
}

export interface CloseOptions {
  yes?: boolean;
  dst?: { address: string; port: number | undefined };
  json?: boolean;
}

export function parseSignal(v: string): SignalName {
  const name = v.toUpperCase().replace(/^SIG/, "");
  if (!(SIGNALS as readonly string[]).includes(name)) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --signal "${v}": expected one of ${SIGNALS.join(", ")}`);
  }
  return name as SignalName;
}

export function registerActions(program: Command): void {
  program
    .command("kill")
    .description("end a process (after confirmation); never PID 1, halfopen itself or its parent, never a reused PID")
    .argument("<pid>", "process id", parseIntOption("<pid>", 0))
    .option("-y, --yes", "do not ask (required when stdin is not a terminal)")
    .option("-s, --signal <name>", `signal: ${SIGNALS.join(", ")}`, parseSignal, "TERM")
    .option("--wait <seconds>", "wait this long for the process to exit", parseSecondsOption("--wait", 0, 600), 5)
    .option("--json", "write the result as one JSON object")
    .addHelpText("after", "\nExample:\n  $ sudo halfopen kill 4242\n  End scan[4242], user root, 50 half-open now, ./scan with SIGTERM? [y/N] y\n  halfopen: sent SIGTERM to scan[4242]; it exited after 0.01s\n\nExit codes: 0 ended, 1 refused, not found or still running, 2 bad usage or\nnot confirmed, 3 needs privileges.")
    .action(async (pid: number, opts: KillOptions) => {
      const { killCommand } = await import("./run.js");
      await killCommand(pid, opts);
    });
  program
    .command("close")
    .description("Linux: end a process's half-open connection attempts (kernel socket destroy, ss -K), leaving the process running")
    .argument("<pid>", "process id", parseIntOption("<pid>", 0))
    .option("--dst <address[:port]>", "only attempts to this destination", parseDestination)
    .option("-y, --yes", "do not ask (required when stdin is not a terminal)")
    .option("--json", "write the result as one JSON object")
    .addHelpText("after", "\nExample:\n  $ sudo halfopen close 4242 --dst 198.18.0.1\n  Close 50 half-open attempts of scan[4242]? [y/N] y\n  halfopen: closed 50 of 50 half-open attempts of scan[4242]\n\nThe process sees each attempt fail (ECONNABORTED). Needs root and a kernel\nwith CONFIG_INET_DIAG_DESTROY; halfopen says so when the kernel has none.\n\nExit codes: 0 ok, 1 refused or not found, 2 bad usage or not confirmed,\n3 needs privileges or unsupported.")
    .action(async (pid: number, opts: CloseOptions) => {
      const { closeCommand } = await import("./run.js");
      await closeCommand(pid, opts);
    });
}
