/**
 * `halfopen kill` and `halfopen close`: end the culprit (the seed's "End
 * Process"), or only its half-open attempts. Both ask first on a terminal;
 * in scripts `--yes` is required, never assumed.
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { ProcessIdentity } from "../core/kill-policy.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { type CloseResult, type EndResult, SIGNALS, type SignalName, assertKillable, closeHalfOpen, endProcess, halfOpenSocketsOf } from "../platform/actions.js";
import { ProcessInfoCache } from "../platform/linux/process-info.js";
import { parseDestination, parseIntOption, parseSecondsOption } from "./options.js";
import { fit, forTerminal } from "./sanitize.js";

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

/** Ask on the terminal; without one, `--yes` is required. */
export async function confirm(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new HalfOpenError(ErrorCodes.NEEDS_CONFIRMATION, "Not confirmed: stdin is not a terminal, so halfopen cannot ask; add --yes to confirm in a script");
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** One line naming a process for the confirmation prompt: name[pid], user, half-open count, command line. */
export async function describe(target: ProcessIdentity): Promise<string> {
  const parts = [`${forTerminal(target.name)}[${target.pid}]`];
  if (process.platform === "linux") {
    const info = new ProcessInfoCache().resolve(target.pid);
    if (info.user ?? info.uid !== undefined) parts.push(`user ${forTerminal(info.user ?? String(info.uid))}`);
    const half = (await halfOpenSocketsOf(target.pid).catch(() => [])).length;
    parts.push(`${half} half-open now`);
    const cmd = info.cmdline?.join(" ") ?? info.exe;
    if (cmd) parts.push(forTerminal(cmd));
  }
  return fit(parts.join(", "), 200);
}

/** Confirm, signal, wait and report; shared by `kill` and `incidents show --kill`. */
export async function killConfirmed(target: ProcessIdentity, opts: KillOptions, context = ""): Promise<void> {
  const what = await describe(target);
  if (!(await confirm(`End ${what}${context} with SIG${opts.signal}?`, opts.yes))) {
    process.stderr.write("halfopen: not confirmed; nothing was done\n");
    process.exitCode = 1;
    return;
  }
  const result = await endProcess(target, opts.signal, opts.wait * 1000);
  printEnd(result, opts);
}

function printEnd(r: EndResult, opts: KillOptions): void {
  if (opts.json) process.stdout.write(`${JSON.stringify({ type: "kill", ...r })}\n`);
  else if (r.result === "exited") process.stdout.write(`halfopen: sent ${r.signal} to ${forTerminal(r.name)}[${r.pid}]; it exited after ${(r.waitedMs / 1000).toFixed(2)}s\n`);
  else process.stdout.write(`halfopen: sent ${r.signal} to ${forTerminal(r.name)}[${r.pid}]; still running after ${(r.waitedMs / 1000).toFixed(1)}s (it may ignore ${r.signal}: halfopen kill ${r.pid} --signal KILL)\n`);
  if (r.result === "running") process.exitCode = 1;
}

function printClose(r: CloseResult, name: string, opts: CloseOptions): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ type: "close", name, ...r })}\n`);
    return;
  }
  if (r.found === 0) {
    process.stdout.write(`halfopen: ${forTerminal(name)}[${r.pid}] has no half-open attempts${opts.dst ? " to that destination" : ""}; nothing to close\n`);
    return;
  }
  process.stdout.write(`halfopen: closed ${r.closed} of ${r.found} half-open attempts of ${forTerminal(name)}[${r.pid}]${r.remaining > 0 ? `; ${r.remaining} left SYN_SENT on their own or could not be destroyed` : ""}\n`);
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
      const target = assertKillable(pid);
      await killConfirmed(target, opts);
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
      const target = assertKillable(pid);
      if (process.platform !== "linux" || process.geteuid?.() !== 0) {
        await closeHalfOpen(pid, opts.dst ? { dst: opts.dst } : {}); // throws the clear error
        return;
      }
      const rows = await halfOpenSocketsOf(pid, opts.dst ? { dst: opts.dst } : {});
      if (rows.length === 0) {
        printClose({ pid, found: 0, closed: 0, remaining: 0, sockets: [] }, target.name, opts);
        return;
      }
      if (!(await confirm(`Close ${rows.length} half-open attempt${rows.length === 1 ? "" : "s"} of ${forTerminal(target.name)}[${pid}]?`, opts.yes))) {
        process.stderr.write("halfopen: not confirmed; nothing was done\n");
        process.exitCode = 1;
        return;
      }
      assertKillable(pid, { name: target.name, ...(target.startTime === undefined ? {} : { startTime: target.startTime }) });
      printClose(await closeHalfOpen(pid, opts.dst ? { dst: opts.dst } : {}, undefined, rows), target.name, opts);
    });
}
