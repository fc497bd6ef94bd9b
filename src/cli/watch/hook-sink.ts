/**
 * The hook sinks of `halfopen watch`: `--on-verdict CMD` runs a program for
 * each scanner verdict (not for trusted programs: they raise no alert), and
 * `--on-incident CMD` for each incident as it opens and as it closes, with
 * the JSON record (the `--json` line) on its standard input.
 *
 * CMD is split into arguments once, at start, like a shell would split words
 * and quotes (shell-quote), but no shell ever runs: operators (| ; > &&),
 * globs and substitutions are refused, and `$NAME` stays literal. A hook runs
 * at most once at a time; records that come meanwhile wait in a bounded queue
 * (the oldest is dropped, and counted, past `maxQueue`). A hook that runs
 * longer than its timeout is killed with its whole process group (it runs
 * in a group of its own), so a grandchild (a hung `curl` it started, a
 * `( sleep 60 ) &`) goes too. A hook is done when it exits: if something it
 * started still holds its output a second later, that process group is
 * killed and a warning says so, and the next record's hook runs. A failing
 * hook (exit status, signal, missing program) is reported as a warning and
 * never stops watch. What can never run (a missing program, an unterminated
 * quote) is refused at start (`checkHookProgram`). At the end, watch waits
 * for the queue up to one timeout (plus a second).
 *
 * Needs: child_process (spawn with an argument array), process groups (POSIX;
 * elsewhere only the hook itself is killed).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { parse } from "shell-quote";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { hasProcessGroups } from "../../platform/select.js";
import { fit } from "../sanitize.js";
import type { Sink, WatchItem } from "./sink.js";

/** Split a hook command into its argument array, refusing anything only a shell would do. */
export function hookArgv(option: string, command: string): string[] {
  const bad = (why: string) => new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} "${command}": ${why}`);
  const open = unterminatedQuote(command);
  if (open) throw bad(`the ${open === "'" ? "single" : "double"} quote is never closed`);
  // `$NAME` stays as written: nothing is expanded.
  const tokens = parse(command, (name: string) => `$${name}`);
  const argv: string[] = [];
  for (const t of tokens) {
    if (typeof t === "string") argv.push(t);
    else if ("op" in t && t.op === "glob") throw bad(`"${t.pattern}" is a glob, and no shell expands it; name the files`);
    else if ("op" in t) throw bad(`"${t.op}" needs a shell, and halfopen never runs one; put the pipeline in a script and name the script`);
    else throw bad("comments and substitutions need a shell, and halfopen never runs one");
  }
  if (argv.length === 0 || argv[0] === "") throw bad("expected a program and its arguments");
  return argv;
}

/** The quote left open at the end of `command`, if any (backslash escapes outside single quotes, as sh reads them). */
function unterminatedQuote(command: string): "'" | '"' | undefined {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === "\\") i++;
    else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
  }
  return quote;
}

/** Refuses, at start, a hook whose program cannot run: not found on PATH, not a file, or not executable. */
export function checkHookProgram(option: string, argv: readonly string[], path = process.env.PATH ?? ""): void {
  const program = argv[0] ?? "";
  const runnable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  const found = program.includes("/") ? runnable(isAbsolute(program) ? program : join(process.cwd(), program)) : path.split(delimiter).some((dir) => dir !== "" && runnable(join(dir, program)));
  if (!found)
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option}: "${fit(program, 200)}" ${program.includes("/") ? "is not an executable file" : "is not an executable on PATH"}; name the program by its full path`);
}

/** Time a hook that has exited gets for its output to close before what it left behind is killed. */
const EXIT_GRACE_MS = 1000;

export interface HookSinkOptions {
  /** `--on-verdict` or `--on-incident`, for messages. */
  option: string;
  argv: string[];
  /** The JSON record to send for an item, or undefined to skip it. */
  select: (item: WatchItem) => object | undefined;
  timeoutMs: number;
  publish: (item: WatchItem) => void;
  /** Records waiting at most. Default 100. */
  maxQueue?: number;
}

export class HookSink implements Sink {
  readonly name: string;
  /** Runs finished, failed, and records dropped from a full queue. */
  readonly stats = { runs: 0, failures: 0, dropped: 0 };
  readonly #o: HookSinkOptions;
  readonly #queue: object[] = [];
  #child?: ChildProcess;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(options: HookSinkOptions) {
    this.#o = options;
    this.name = `hook ${options.option}`;
  }

  write(item: WatchItem): void {
    const record = this.#o.select(item);
    if (record) this.send(record);
  }

  /** Run the hook for this record (queued behind a running one). */
  send(record: object): void {
    if (this.#closed) return;
    if (this.#queue.length >= (this.#o.maxQueue ?? 100)) {
      this.#queue.shift();
      this.stats.dropped++;
      if (this.stats.dropped === 1) this.#warn("records come faster than the hook runs; the oldest waiting ones are dropped");
    }
    this.#queue.push(record);
    this.#next();
  }

  /** Wait for the running and waiting hooks, up to one timeout (and a second for a killed one to go). */
  async finish(): Promise<void> {
    if (!this.#child && this.#queue.length === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#o.timeoutMs + 1000);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#child) killGroup(this.#child);
  }

  #next(): void {
    if (this.#child) return;
    const record = this.#queue.shift();
    if (!record) {
      for (const f of this.#idle.splice(0)) f();
      return;
    }
    const [file, ...args] = this.#o.argv as [string, ...string[]];
    let stderr = "";
    let done = false;
    // A group of its own: on a timeout, the hook and everything it started are killed together.
    const child = spawn(file, args, { stdio: ["pipe", "ignore", "pipe"], detached: hasProcessGroups() });
    this.#child = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      if (done) return;
      timedOut = true;
      killGroup(child);
    }, this.#o.timeoutMs);
    let grace: NodeJS.Timeout | undefined;
    const end = (problem?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      this.#child = undefined;
      this.stats.runs++;
      if (problem) {
        this.stats.failures++;
        this.#warn(problem);
      }
      if (!this.#closed) this.#next();
      else for (const f of this.#idle.splice(0)) f();
    };
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) => end(e.code === "ENOENT" ? `cannot run "${file}": no such program` : `cannot run "${file}": ${e.message}`));
    const verdict = (code: number | null, signal: NodeJS.Signals | null) => {
      const said = stderr.trim().split("\n")[0];
      if (timedOut) return `killed after ${this.#o.timeoutMs / 1000}s (--hook-timeout), with the processes it started`;
      if (signal) return `ended by ${signal}`;
      if (code !== 0) return `exited with status ${code}${said ? `: ${said}` : ""}`;
      return undefined;
    };
    // Done when it exits; its output closing (close) normally follows at once. A process it left
    // running with its output open would hold "close" back for ever: after a grace period, its group goes.
    child.on("exit", (code, signal) => {
      grace = setTimeout(() => {
        killGroup(child);
        child.stderr?.destroy();
        const problem = verdict(code, signal);
        end(`${problem ? `${problem}; ` : ""}exited, but a process it started kept its output open; that process group was killed`);
      }, EXIT_GRACE_MS);
    });
    child.on("close", (code, signal) => end(verdict(code, signal)));
    // A hook that does not read its input must not fail watch: EPIPE is its business.
    child.stdin?.on("error", () => {});
    child.stdin?.end(`${JSON.stringify(record)}\n`);
  }

  #warn(message: string): void {
    this.#o.publish({ kind: "warning", level: "warning", message: fit(`${this.#o.option} "${this.#o.argv.join(" ")}" ${message}`, 400) });
  }
}

/** SIGKILL to the hook's process group (it leads one: spawned detached), or to the hook alone where there are no groups. */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined && hasProcessGroups()) process.kill(-child.pid, "SIGKILL");
    else child.kill("SIGKILL");
  } catch {
    // already gone
  }
}
