/**
 * The JSON-lines sinks of `halfopen watch`: `--json` on stdout, and
 * `--log-file PATH` for log shippers (whatever stdout shows). Both write the
 * records of records.ts. With `--json`, a blind spell is also said on stderr,
 * for the person watching the terminal.
 *
 * Needs: stdout; the log file (log-file.ts), reopened on SIGHUP.
 */
import { forTerminal } from "../sanitize.js";
import { seconds } from "./format.js";
import { JsonLog } from "./log-file.js";
import { jsonRecords } from "./records.js";
import type { Sink, WatchItem } from "./sink.js";
import type { WatchStdout } from "./stdout.js";

/** `--json`: every record as a line on stdout. */
export class JsonStdoutSink implements Sink {
  readonly name = "json";
  readonly #out: WatchStdout;
  readonly #wallOffsetMs: number;

  constructor(out: WatchStdout, wallOffsetMs: number) {
    this.#out = out;
    this.#wallOffsetMs = wallOffsetMs;
  }

  write(item: WatchItem): void {
    for (const r of jsonRecords(item, this.#wallOffsetMs)) this.#out.line(JSON.stringify(r));
    if (item.kind === "finding" && item.finding.type === "blind") {
      const b = item.finding as { durationMs: number; reason: string };
      process.stderr.write(`halfopen: warning: blind for up to ${seconds(b.durationMs)}: ${forTerminal(b.reason)}\n`);
    }
  }
}

/** `--log-file PATH`: every record appended to the file; the file reopens on SIGHUP (logrotate). */
export class LogFileSink implements Sink {
  readonly name = "log-file";
  readonly #path: string;
  readonly #wallOffsetMs: number;
  #log?: JsonLog;
  readonly #onHup = () => this.#log?.reopen();

  constructor(path: string, wallOffsetMs: number) {
    this.#path = path;
    this.#wallOffsetMs = wallOffsetMs;
  }

  open(): void {
    this.#log = new JsonLog(this.#path, (m) => process.stderr.write(`halfopen: warning: ${m}\n`));
    process.on("SIGHUP", this.#onHup);
  }

  write(item: WatchItem): void {
    for (const r of jsonRecords(item, this.#wallOffsetMs)) this.#log?.write(r);
  }

  close(): void {
    process.off("SIGHUP", this.#onHup);
    this.#log?.close();
    this.#log = undefined;
  }
}
