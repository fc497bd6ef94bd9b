/**
 * ReplaySource: a `watch --record` file fed back as a ConnectionSource, so
 * the same pipeline (monitor, incidents, JSON, store, metrics) runs on a
 * capture: no root, any OS. The record holds the events and the times the
 * core's clock advanced; each batch is released at its recorded tick, and
 * `now()` is the recording's clock, so the incidents come out as they did
 * live (same ids, peaks, processes, outcomes).
 *
 * Mechanism: reads the file line by line (line-file.ts: a regular file only,
 * lines of at most 1 MiB), decoded and checked by the pure RecordDecoder
 * (core/record-format.ts). A last line that no newline ends and that does not
 * parse (a recording cut short by a crash) is cut off, said once as a
 * warning. `speed` 1 replays in real time, N N times faster; `Infinity` as
 * fast as possible.
 * Needs: a readable regular file. Caveat: the watch options of the replay (--limit,
 * --quiet, --max-age, filters) decide what is reported; the header keeps the
 * ones of the recording under `watch`.
 */
import type { ConnectionEvent } from "../core/events.js";
import { NoteLog, type NoteRead } from "../core/note-log.js";
import { RecordDecoder, type RecordHeader, type RecordItem } from "../core/record-format.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { readLines, type FileLine } from "./line-file.js";
import type { ConnectionSource, SourceStats } from "./types.js";

/** Longest line a recording may have: a process line holds at most a few capped strings (4 KiB each). */
const MAX_RECORD_LINE = 1024 * 1024;

export interface ReplaySourceOptions {
  path: string;
  /** 1: as recorded; N: N times faster; Infinity: as fast as possible. Default 1. */
  speed?: number;
}

export class ReplaySource implements ConnectionSource {
  readonly name = "replay";
  readonly caveats: string[] = [];
  exact = true;
  wallOffsetMs = 0;
  header?: RecordHeader;
  readonly #path: string;
  readonly #speed: number;
  readonly #decoder = new RecordDecoder();
  #lines?: AsyncIterator<FileLine>;
  readonly #warnings = new NoteLog();
  #now = 0;
  #stopped = false;
  #records = 0;
  #lost = 0;
  #startedReal = 0;
  #firstTime?: number;
  #wake?: () => void;

  constructor(options: ReplaySourceOptions) {
    this.#path = options.path;
    this.#speed = options.speed ?? 1;
  }

  /** Open the file and read its header. Throws HalfOpenError BAD_USAGE (no such file, not a regular file), BAD_RECORD or INPUT_TOO_LARGE. */
  async start(): Promise<void> {
    this.#lines = readLines(this.#path, { what: "recording", maxLineBytes: MAX_RECORD_LINE })[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.#lines.next();
      if (next.done) throw new HalfOpenError(ErrorCodes.BAD_RECORD, `Cannot replay "${this.#path}": the file is empty`);
      this.#decode(next.value);
      if (this.#decoder.header) break;
    }
    const h = this.#decoder.header;
    this.header = h;
    this.exact = h.exact;
    this.wallOffsetMs = h.wallOffsetMs;
    this.caveats.push(`replaying ${this.#path}: recorded by the ${h.source} source${h.host ? ` on ${h.host}` : ""} at ${new Date(h.startedAtWall).toISOString()}${Number.isFinite(this.#speed) ? (this.#speed === 1 ? "" : `, ${this.#speed}x`) : ", as fast as possible"}`);
    this.#startedReal = performance.now();
  }

  details(): Record<string, string | number | boolean> {
    return { file: this.#path, recordedSource: this.header?.source ?? "?", exact: this.exact, speed: Number.isFinite(this.#speed) ? this.#speed : "max" };
  }

  now(): number {
    return this.#now;
  }

  stats(): SourceStats {
    return { lostEvents: this.#lost, records: this.#records };
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  warnings(since: number): NoteRead {
    return this.#warnings.since(since);
  }

  /** One line's items; a torn last line (no newline, not a whole record) is cut off and said, never an error. */
  #decode(line: FileLine): RecordItem[] {
    try {
      return this.#decoder.line(line.text);
    } catch (e) {
      if (line.terminated || (e as HalfOpenError).code !== ErrorCodes.BAD_RECORD) throw e;
      this.#warnings.add(`the last line of ${this.#path} (line ${line.number}) is cut short (a recording that stopped mid-write); it was left out`);
      return [];
    }
  }

  async *events(): AsyncIterable<ConnectionEvent[]> {
    const lines = this.#lines;
    if (!lines) return;
    let batch: ConnectionEvent[] = [];
    while (!this.#stopped) {
      const next = await lines.next();
      if (next.done) break;
      for (const item of this.#decode(next.value)) {
        if (item.kind === "event") {
          batch.push(item.event);
          this.#records++;
          if (item.event.type === "lost") this.#lost += item.event.count;
          continue;
        }
        // A tick (or the end): release what came before it, at that time.
        await this.#pace(item.time);
        if (this.#stopped) return;
        this.#now = Math.max(this.#now, item.time);
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0 && !this.#stopped) {
      const last = batch[batch.length - 1] as ConnectionEvent;
      this.#now = Math.max(this.#now, last.time);
      yield batch;
    }
  }

  /** Wait until the recording's time `t` is due at this speed. */
  async #pace(t: number): Promise<void> {
    this.#firstTime ??= t;
    if (!Number.isFinite(this.#speed)) return;
    const due = this.#startedReal + (t - this.#firstTime) / this.#speed;
    const wait = due - performance.now();
    if (wait <= 1) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }
}
