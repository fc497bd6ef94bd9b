/**
 * `watch --record FILE`: writes what the core consumed (events with process
 * details, and its clock ticks) in the record format of core/record-format.ts,
 * one batch per write. Loaded only when recording.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import type { ConnectionEvent } from "../../core/events.js";
import { RecordEncoder } from "../../core/record-format.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";

export class RecordFile {
  readonly path: string;
  readonly #encoder: RecordEncoder;
  #fd?: number;
  #pending: string[] = [];
  /** Set once a write failed; recording stops, watch goes on. */
  error?: string;

  constructor(path: string, header: { source: string; exact: boolean; wallOffsetMs: number; watch: Record<string, unknown> }) {
    this.path = path;
    try {
      this.#fd = openSync(path, "w", 0o600);
    } catch (e) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot record to "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.#encoder = new RecordEncoder({ ...header, startedAtWall: Date.now(), host: hostname() });
    this.#pending.push(this.#encoder.header());
  }

  events(batch: readonly ConnectionEvent[]): void {
    if (this.#fd === undefined) return;
    for (const line of this.#encoder.events(batch)) this.#pending.push(line);
  }

  /** The core's clock advanced to `time`: written with what came before it. */
  tick(time: number): void {
    if (this.#fd === undefined) return;
    this.#pending.push(this.#encoder.tick(time));
    this.flush();
  }

  flush(): void {
    if (this.#fd === undefined || this.#pending.length === 0) return;
    const text = `${this.#pending.join("\n")}\n`;
    this.#pending = [];
    try {
      writeSync(this.#fd, text);
    } catch (e) {
      this.error = `recording to ${this.path} stopped: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      this.close();
    }
  }

  /** Write the end line and close. */
  end(time: number): void {
    if (this.#fd === undefined) return;
    this.#pending.push(this.#encoder.end(time));
    this.flush();
    this.close();
  }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // nothing more to do
    }
    this.#fd = undefined;
  }
}
