/**
 * The record format of `watch --record` / `watch --replay`: the neutral event
 * stream (events.ts) exactly as the core consumed it, plus the times at which
 * the core's clock advanced (`tick`), so a replay feeds the pure core the same
 * input and gets the same incidents: ids, peaks, processes, outcomes. Pure:
 * RecordEncoder turns events into lines, RecordDecoder lines into events.
 *
 * Format `halfopen-record` version 1: JSON lines (UTF-8, one object a line).
 *   {"format":"halfopen-record","version":1,"source":"tracefs","exact":true,
 *    "startedAtWall":1796..., "wallOffsetMs":..., "host":"...", "watch":{...}}
 *   {"t":"p","ref":1,"info":{"pid":42,"name":"scan","cmdline":[...],...}}  process details, once per version
 *   {"t":"e","e":{"type":"connect","time":...,"sock":"...","process":1,...}}  an event; `process` is a ref
 *   {"t":"k","time":1234.5}                                             the core's clock advanced to `time`
 *   {"t":"end","time":5678.9}                                           the recording ended cleanly
 * Times are the source's monotonic milliseconds; `wallOffsetMs` turns them
 * into wall-clock time. Unknown line types are skipped (newer minor additions);
 * a higher `version` is refused.
 *
 * Why JSON lines and not a compact binary: captures are meant to be mailed to
 * a colleague, attached to an issue, diffed, grepped and cut with `head`; a
 * crash loses at most the last line; every tool reads it (jq). Process details,
 * the bulky part, are written once per process, so a connect costs about 150
 * bytes: 20,000 attempts/s record at about 3 MB/s, and gzip shrinks a capture
 * about tenfold. A binary format would save CPU we have not needed.
 *
 * @example
 * ```ts
 * import { RecordDecoder, RecordEncoder } from "halfopen";
 * const enc = new RecordEncoder({ source: "tracefs", exact: true, startedAtWall: 0, wallOffsetMs: 0 });
 * const lines = [enc.header(), ...enc.events([{ type: "exit", time: 5, pid: 42, name: "scan" }]), enc.tick(6)];
 * const dec = new RecordDecoder();
 * const items = lines.flatMap((l) => dec.line(l));
 * // items: [{ kind: "event", event: { type: "exit", ... } }, { kind: "tick", time: 6 }]
 * if (items.length !== 2) throw new Error(`decoded ${items.length} items`);
 * ```
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";
import type { ConnectionEvent, ProcessInfo } from "./events.js";

export const RECORD_FORMAT = "halfopen-record";
export const RECORD_VERSION = 1;

/** The first line of a record. */
export interface RecordHeader {
  format: typeof RECORD_FORMAT;
  version: number;
  /** The source that produced the events ("tracefs", "procfs", ...). */
  source: string;
  /** True when the source saw every attempt (tracefs); false for polling sources. */
  exact: boolean;
  /** Wall-clock ms when recording started. */
  startedAtWall: number;
  /** Added to event times to get wall-clock ms. */
  wallOffsetMs: number;
  host?: string;
  /** The watch options in force (limit, quiet, ...), for the reader's information. */
  watch?: Record<string, unknown>;
}

export type RecordItem = { kind: "event"; event: ConnectionEvent } | { kind: "tick"; time: number } | { kind: "end"; time: number };

/** Turns the event stream into record lines (without newlines). */
export class RecordEncoder {
  readonly #header: RecordHeader;
  /** The ref of each process object, and the name it had when written (it may be filled in later). */
  readonly #refs = new WeakMap<ProcessInfo, { ref: number; name: string; partial: boolean }>();
  #nextRef = 1;

  constructor(header: Omit<RecordHeader, "format" | "version">) {
    this.#header = { format: RECORD_FORMAT, version: RECORD_VERSION, ...header };
  }

  header(): string {
    return JSON.stringify(this.#header);
  }

  /** Lines for a batch of events: a process line before the first event that names a new (or changed) process. */
  events(batch: readonly ConnectionEvent[]): string[] {
    const out: string[] = [];
    for (const e of batch) {
      if (e.type !== "connect") {
        out.push(JSON.stringify({ t: "e", e }));
        continue;
      }
      const known = this.#refs.get(e.process);
      let ref = known?.ref;
      if (!known || known.name !== e.process.name || known.partial !== (e.process.partial === true)) {
        ref = this.#nextRef++;
        this.#refs.set(e.process, { ref, name: e.process.name, partial: e.process.partial === true });
        out.push(JSON.stringify({ t: "p", ref, info: e.process }));
      }
      out.push(JSON.stringify({ t: "e", e: { ...e, process: ref } }));
    }
    return out;
  }

  tick(time: number): string {
    return JSON.stringify({ t: "k", time });
  }

  end(time: number): string {
    return JSON.stringify({ t: "end", time });
  }
}

/** Reads record lines back; throws HalfOpenError BAD_RECORD with the line number on a malformed line. */
export class RecordDecoder {
  header?: RecordHeader;
  readonly #processes = new Map<number, ProcessInfo>();
  #lineNo = 0;

  /** The items of one line (none for the header and process lines). */
  line(text: string): RecordItem[] {
    this.#lineNo++;
    if (text.trim() === "") return [];
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw this.#bad(`not JSON (${(e as Error).message})`);
    }
    if (!this.header) {
      if (v.format !== RECORD_FORMAT) throw this.#bad(`not a halfopen record: the first line must have "format": "${RECORD_FORMAT}"`);
      if (typeof v.version !== "number" || v.version > RECORD_VERSION) throw this.#bad(`record version ${String(v.version)} is newer than this halfopen reads (${RECORD_VERSION}); upgrade halfopen`);
      this.header = v as unknown as RecordHeader;
      return [];
    }
    switch (v.t) {
      case "p": {
        const ref = v.ref;
        if (typeof ref !== "number" || typeof v.info !== "object" || v.info === null) throw this.#bad("a process line needs a numeric ref and an info object");
        this.#processes.set(ref, v.info as ProcessInfo);
        return [];
      }
      case "e": {
        const e = v.e as Record<string, unknown> | undefined;
        if (!e || typeof e.type !== "string" || typeof e.time !== "number") throw this.#bad("an event line needs an event with a type and a time");
        if (e.type === "connect") {
          const process = this.#processes.get(e.process as number);
          if (!process) throw this.#bad(`the connect names process ref ${String(e.process)}, which no earlier line defines`);
          return [{ kind: "event", event: { ...(e as unknown as ConnectionEvent), process } as ConnectionEvent }];
        }
        return [{ kind: "event", event: e as unknown as ConnectionEvent }];
      }
      case "k":
      case "end":
        if (typeof v.time !== "number") throw this.#bad(`a ${v.t === "k" ? "tick" : "end"} line needs a numeric time`);
        return [{ kind: v.t === "k" ? "tick" : "end", time: v.time }];
      default:
        return [];
    }
  }

  #bad(why: string): HalfOpenError {
    return new HalfOpenError(ErrorCodes.BAD_RECORD, `Cannot read the record at line ${this.#lineNo}: ${why}`);
  }
}
