/**
 * The recording sink of `halfopen watch --record FILE`: writes what the core
 * consumed (each batch of events with its process details, and the core's
 * clock ticks) in the record format (core/record-format.ts), so a replay
 * ticks at the same times and reproduces the run. A write that fails stops
 * the recording, says so once, and never stops watch.
 *
 * Needs: the file (created 0600: records hold command lines).
 */
import type { ConnectionEvent } from "../../core/events.js";
import { RecordFile } from "./record-file.js";
import type { Sink, WatchItem } from "./sink.js";

export interface RecordSinkOptions {
  path: string;
  header: { source: string; exact: boolean; wallOffsetMs: number; watch: Record<string, unknown> };
  publish: (item: WatchItem) => void;
}

export class RecordSink implements Sink {
  readonly name = "record";
  readonly #o: RecordSinkOptions;
  #file?: RecordFile;

  constructor(options: RecordSinkOptions) {
    this.#o = options;
  }

  open(): void {
    this.#file = new RecordFile(this.#o.path, this.#o.header);
  }

  events(batch: readonly ConnectionEvent[]): void {
    this.#file?.events(batch);
  }

  tick(now: number): void {
    this.#file?.tick(now);
    if (this.#file?.error) {
      this.#o.publish({ kind: "warning", level: "note", message: this.#file.error });
      this.#file = undefined;
    }
  }

  finish(now: number): void {
    this.#file?.end(now);
    this.#file = undefined;
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
