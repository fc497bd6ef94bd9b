/**
 * `watch --log-file PATH`: the JSON lines of `--json`, appended to a file for
 * log shippers (Filebeat, Vector, Promtail), whatever stdout shows. The file
 * is created 0600 (records hold command lines) and reopened on SIGHUP, so
 * logrotate can move it away.
 *
 * Needs: fs.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { ErrorCodes, HalfOpenError } from "../../errors.js";

export class JsonLog {
  readonly path: string;
  #fd: number | undefined;
  #failed = false;
  readonly #warn: (message: string) => void;

  /** Opens the file now, so a bad path fails at start with a clear error. */
  constructor(path: string, warn: (message: string) => void) {
    this.path = path;
    this.#warn = warn;
    this.#fd = this.#open();
  }

  write(record: object): void {
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, `${JSON.stringify(record)}\n`);
      this.#failed = false;
    } catch (e) {
      if (!this.#failed) this.#warn(`cannot write ${this.path}: ${(e as Error).message}; records are lost from the log file until it works again`);
      this.#failed = true;
    }
  }

  /** Reopen (after logrotate moved the file). */
  reopen(): void {
    const old = this.#fd;
    try {
      this.#fd = this.#open();
      if (old !== undefined) closeSync(old);
    } catch (e) {
      this.#warn(`cannot reopen ${this.path}: ${(e as Error).message}; still writing to the old file`);
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): number {
    try {
      return openSync(this.path, "a", 0o600);
    } catch (e) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --log-file "${this.path}": ${(e as Error).message}`);
    }
  }
}
