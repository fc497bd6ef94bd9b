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
 * longer than its timeout is killed. A failing hook (exit status, signal,
 * missing program) is reported as a warning and never stops watch. At the
 * end, watch waits for the queue up to one timeout (plus a second).
 *
 * Needs: child_process (spawn with an argument array).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { parse } from "shell-quote";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { fit } from "../sanitize.js";
import type { Sink, WatchItem } from "./sink.js";

/** Split a hook command into its argument array, refusing anything only a shell would do. */
export function hookArgv(option: string, command: string): string[] {
  const bad = (why: string) => new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} "${command}": ${why}`);
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
    this.#child?.kill("SIGKILL");
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
    const child = spawn(file, args, { stdio: ["pipe", "ignore", "pipe"] });
    this.#child = child;
    const timer = setTimeout(() => {
      if (!done) child.kill("SIGKILL");
    }, this.#o.timeoutMs);
    const end = (problem?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
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
    child.on("close", (code, signal) => {
      const said = stderr.trim().split("\n")[0];
      if (signal) end(signal === "SIGKILL" && !this.#closed ? `killed after ${this.#o.timeoutMs / 1000}s (--hook-timeout)` : `ended by ${signal}`);
      else if (code !== 0) end(`exited with status ${code}${said ? `: ${said}` : ""}`);
      else end();
    });
    // A hook that does not read its input must not fail watch: EPIPE is its business.
    child.stdin?.on("error", () => {});
    child.stdin?.end(`${JSON.stringify(record)}\n`);
  }

  #warn(message: string): void {
    this.#o.publish({ kind: "warning", level: "warning", message: fit(`${this.#o.option} "${this.#o.argv.join(" ")}" ${message}`, 400) });
  }
}
