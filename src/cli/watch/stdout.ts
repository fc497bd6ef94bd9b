/**
 * Standard output of `halfopen watch`, shared by the text and JSON sinks:
 * lines are written until stdout fails (EPIPE into `head`, a closed socket),
 * then dropped, and `onFailed` is called once so watch stops cleanly. A pipe
 * whose reader left is noticed even while nothing is written (the platform's
 * watchStdoutClosed).
 *
 * Needs: process.stdout.
 */
import { watchStdoutClosed } from "../../platform/select.js";

export class WatchStdout {
  /** The first error of stdout, once it failed. */
  error?: NodeJS.ErrnoException;
  #onFailed: () => void = () => {};
  #stopWatch: () => void = () => {};
  readonly #onError = (e: NodeJS.ErrnoException) => this.#failed(e);

  constructor() {
    process.stdout.on("error", this.#onError);
  }

  /** Call `onFailed` when stdout fails (at once, if it already has), and watch a pipe for its reader leaving. */
  async watch(onFailed: () => void): Promise<void> {
    this.#onFailed = onFailed;
    if (this.error) onFailed();
    this.#stopWatch = await watchStdoutClosed(() => this.#failed(Object.assign(new Error("the reader of standard output closed it"), { code: "EPIPE" })));
  }

  line(text: string): void {
    if (this.error) return;
    process.stdout.write(`${text}\n`);
  }

  /** Stop watching (the error listener stays: a late EPIPE must not crash the exit). */
  close(): void {
    this.#stopWatch();
  }

  #failed(e: NodeJS.ErrnoException): void {
    if (this.error) return;
    this.error = e;
    this.#onFailed();
  }
}
