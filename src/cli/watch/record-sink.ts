/**
 * The recording sink of `halfopen watch --record FILE`: writes what the core
 * consumed (each batch of events with its process details, and the core's
 * clock ticks) in the record format (core/record-format.ts), so a replay
 * ticks at the same times and reproduces the run. A write that fails stops
 * the recording, says so once, and never stops watch.
 *
 * With filters (--pid, --comm, --unit, --container, --netns) only what they
 * select is recorded: a process they leave out, its attempts and its exit
 * never reach the file (other namespaces' command lines stay out of it); the
 * header says which filters were in force, and a replay applies them.
 *
 * Needs: the file (created 0600: records hold command lines).
 */
import type { ConnectionEvent, ProcessInfo } from "../../core/events.js";
import { RecordFile } from "./record-file.js";
import type { Sink, WatchItem } from "./sink.js";

export interface RecordSinkOptions {
  path: string;
  header: { source: string; exact: boolean; wallOffsetMs: number; watch: Record<string, unknown> };
  publish: (item: WatchItem) => void;
  /** The watch's process filter: what it leaves out is not recorded. */
  filter?: (p: ProcessInfo) => boolean;
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

  /** Sockets and processes the filter left out: their later events are not recorded either. */
  readonly #skippedSocks = new Set<string>();
  readonly #recordedPids = new Set<number>();

  events(batch: readonly ConnectionEvent[]): void {
    const filter = this.#o.filter;
    if (!filter) {
      this.#file?.events(batch);
      return;
    }
    const kept: ConnectionEvent[] = [];
    for (const e of batch) {
      if (e.type === "connect") {
        if (filter(e.process)) {
          this.#recordedPids.add(e.pid);
          kept.push(e);
        } else this.#skippedSocks.add(e.sock);
      } else if (e.type === "leave" || e.type === "reset" || e.type === "retransmit") {
        if (this.#skippedSocks.has(e.sock)) {
          if (e.type === "leave") this.#skippedSocks.delete(e.sock);
        } else kept.push(e);
      } else if (e.type === "exit") {
        if (this.#recordedPids.delete(e.pid)) kept.push(e);
      } else kept.push(e);
    }
    if (kept.length > 0) this.#file?.events(kept);
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
