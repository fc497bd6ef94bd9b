/**
 * What `halfopen kill` and `halfopen close` do once their options are parsed
 * (act.ts), loaded only when they run; `incidents show --kill` shares it.
 */
import { createInterface } from "node:readline/promises";
import type { ProcessIdentity } from "../../core/kill-policy.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { type CloseResult, type EndResult, assertKillable, endProcess, halfOpenSocketsOf } from "../../platform/actions.js";
import { closeHalfOpen, readProcessDetails } from "../../platform/select.js";
import type { CloseOptions, KillOptions } from "./command.js";
import { fit, forTerminal } from "../sanitize.js";

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
  const info = await readProcessDetails(target.pid);
  if (info) {
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
    process.exitCode = 2;
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

/** `halfopen kill PID`. */
export async function killCommand(pid: number, opts: KillOptions): Promise<void> {
  const target = assertKillable(pid);
  await killConfirmed(target, opts);
}

/** `halfopen close PID [--dst]`: confirm, then destroy the process's half-open sockets. */
export async function closeCommand(pid: number, opts: CloseOptions): Promise<void> {
  const target = assertKillable(pid);
  // With nothing to close this only checks that closing can work here (Linux, root), before anything is asked.
  await closeHalfOpen(pid, {}, []);
  const rows = await halfOpenSocketsOf(pid, opts.dst ? { dst: opts.dst } : {});
  if (rows.length === 0) {
    printClose({ pid, found: 0, closed: 0, remaining: 0, sockets: [] }, target.name, opts);
    return;
  }
  if (!(await confirm(`Close ${rows.length} half-open attempt${rows.length === 1 ? "" : "s"} of ${forTerminal(target.name)}[${pid}]?`, opts.yes))) {
    process.stderr.write("halfopen: not confirmed; nothing was done\n");
    process.exitCode = 2;
    return;
  }
  assertKillable(pid, { name: target.name, ...(target.startTime === undefined ? {} : { startTime: target.startTime }) });
  printClose(await closeHalfOpen(pid, opts.dst ? { dst: opts.dst } : {}, rows), target.name, opts);
}
