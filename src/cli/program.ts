/**
 * halfopen command line. Maps HalfOpenError codes to exit codes
 * (0 ok, 1 failure, 2 bad usage, 3 needs privileges) and prints expected
 * failures as one line, without a stack trace.
 */
import { createRequire } from "node:module";
import type * as commander from "commander";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { excerpt } from "../core/process-text.js";
import { setOutputWidth } from "./sanitize.js";
import { VERSION } from "../version.js";

// commander is CommonJS: require() loads it in ~2 ms, `import` through Node's
// ESM interop in ~10 ms, a tenth of `halfopen ls`'s budget on a busy host.
const { Command, CommanderError } = createRequire(import.meta.url)("commander") as typeof commander;

type Register = (program: commander.Command) => void;

/** Each command's options, in the order `--help` lists them; loaded on demand. */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [["watch"], async () => (await import("./watch/command.js")).registerWatch],
  [["ls"], async () => (await import("./ls/command.js")).registerLs],
  [["incidents"], async () => (await import("./incidents/command.js")).registerIncidents],
  [["kill", "close"], async () => (await import("./act/command.js")).registerActions],
  [["simulate"], async () => (await import("./simulate/command.js")).registerSimulate],
  [["scan"], async () => (await import("./scan/command.js")).registerScan],
  [["scans"], async () => (await import("./scans/command.js")).registerScans],
];

/**
 * commander's own message ("error: unknown option '--x'\n(Did you mean
 * --y?)") as one halfopen line with the stable code: `halfopen: Unknown
 * option '--x' (did you mean --y?) [HALFOPEN_BAD_USAGE]`.
 */
export function usageError(message: string): string {
  const parts = message
    .trim()
    .replace(/^error:\s*/i, "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const [first = "bad usage", ...rest] = parts;
  const head = (first.charAt(0).toUpperCase() + first.slice(1)).replace(/\.$/, "");
  const hints = rest.map((r) => r.replace(/^\((.*)\)$/, "$1").replace(/^Did/, "did"));
  return `halfopen: ${head}${hints.length > 0 ? ` (${hints.join("; ")})` : "; see --help"} [${ErrorCodes.BAD_USAGE}]`;
}

let stdoutFailedOnce = false;
/** stdout of a one-shot command failed (EPIPE into `head`): one line, exit 1, no stack trace. */
function stdoutFailed(e: NodeJS.ErrnoException): void {
  if (stdoutFailedOnce) return;
  stdoutFailedOnce = true;
  const why = e.code === "EPIPE" ? "the reader closed it" : e.message;
  try {
    process.stderr.write(`halfopen: Cannot write to standard output (${e.code ?? "error"}): ${why} [${ErrorCodes.OUTPUT_FAILED}]\n`);
  } finally {
    process.exit(1);
  }
}

/**
 * `--width N` (any command, anywhere after it): text output fits N columns.
 * Taken out of argv before the command's own options are parsed. Without it,
 * text fits the terminal, and output to a pipe or a file is never cut.
 */
export function takeWidth(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (i < 3 || (a !== "--width" && !a.startsWith("--width="))) {
      out.push(a);
      continue;
    }
    const value = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
    const n = Number(value);
    if (value === undefined || !/^\d+$/.test(value) || n < 40 || n > 100_000) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --width "${excerpt(value ?? "", 40)}": expected a whole number of columns from 40 to 100000`);
    setOutputWidth(n);
  }
  return out;
}

function baseProgram(): commander.Command {
  return new Command("halfopen")
    .description("which process is flooding this machine with half-open TCP connection attempts")
    .addHelpText("after", "\nEvery command takes --width N: text fits N columns (default: the terminal's width; never cut in a pipe or a file).")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s) => process.stderr.write(`${usageError(s)}\n`) });
}

/** The whole command line, every command registered: what the man pages and the completion are made from. */
export async function fullProgram(): Promise<commander.Command> {
  const program = baseProgram();
  for (const [, load] of COMMANDS) (await load())(program);
  registerCompletion(program);
  return program;
}

/** `halfopen completion bash|zsh`: the completion script, from the same definitions as --help. */
function registerCompletion(program: commander.Command): void {
  program
    .command("completion")
    .description("print a shell completion script for bash or zsh (from the same options --help lists)")
    .argument("<shell>", "bash or zsh")
    .addHelpText("after", "\nExample:\n  $ halfopen completion bash > ~/.local/share/bash-completion/completions/halfopen\n  $ halfopen completion zsh > ~/.zfunc/halfopen.zsh   # then source it from ~/.zshrc")
    .action(async (shell: string) => {
      if (shell !== "bash" && shell !== "zsh") throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write completion for "${excerpt(shell, 40)}": expected bash or zsh`);
      const { bashCompletion } = await import("./reference/pages.js");
      const script = bashCompletion(program);
      process.stdout.write(shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script);
    });
}

export async function main(argv: string[]): Promise<number> {
  try {
    argv = takeWidth(argv);
  } catch (e) {
    printError(e as HalfOpenError);
    return 2;
  }
  const program = baseProgram();
  // `watch` handles a failed stdout itself (it stops cleanly and says so); the other commands, and its help, stop at once.
  if (argv[2] !== "watch" || argv.slice(3).some((a) => a === "--help" || a === "-h")) process.stdout.on("error", stdoutFailed);
  // `halfopen ls ...` needs only ls's options; anything else (--help, a typo) gets every command.
  const named = COMMANDS.filter(([names]) => names.includes(argv[2] ?? ""));
  for (const [, load] of named.length > 0 ? named : COMMANDS) (await load())(program);
  if (named.length === 0) registerCompletion(program);
  try {
    // nmap's -Pn, -iL and -oX for `scan`.
    if (argv[2] === "scan") argv = (await import("./scan/command.js")).nmapAliases(argv);
    await program.parseAsync(argv);
    // A command may have set its own (130: a scan interrupted by Ctrl-C; 2: a confirmation declined).
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (caught) {
    const e = asHalfOpenError(caught);
    if (e instanceof HalfOpenError) {
      printError(e);
      return e.exitCode;
    }
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2;
    }
    throw e;
  }
}

/** Longest error message printed: messages quote input (a path, a target), which may be huge. */
const MAX_MESSAGE = 2000;

/** One line on stderr: the message (control characters escaped, cut at MAX_MESSAGE) and its code. */
export function printError(e: HalfOpenError): void {
  process.stderr.write(`halfopen: ${excerpt(e.message, MAX_MESSAGE)} [${e.code}]\n`);
}

/** A system limit that ran out (descriptors, memory) as a coded error; anything else unchanged. */
export function asHalfOpenError(e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EMFILE" || code === "ENFILE")
    return new HalfOpenError(ErrorCodes.RESOURCE_LIMIT, `Ran out of file descriptors (${code}${code === "EMFILE" ? ": this process's limit, ulimit -n" : ": the system's limit"}) while ${(e as Error).message.includes("open") ? "opening a file" : "working"}; raise the limit (ulimit -n 1024) and run again`);
  if (code === "ENOMEM") return new HalfOpenError(ErrorCodes.RESOURCE_LIMIT, "Ran out of memory (ENOMEM); free memory or raise the process's limit and run again");
  return e;
}
