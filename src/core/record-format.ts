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
 * into wall-clock time. Unknown line types and event types are skipped (newer
 * minor additions); a higher `version` is refused.
 *
 * A recording is input from anywhere (mailed, attached to an issue): every
 * field of every line is checked for its type before the core sees it, and a
 * process's details are copied field by field (unknown fields dropped), so a
 * hostile file gets one coded error (BAD_RECORD, naming the line), never a
 * crash. Excerpts of the file in messages are escaped and cut.
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
import { excerpt } from "./process-text.js";

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
    for (const event of batch) {
      // A source's slot (ConnectEvent.slot) is a hint for its own run, not part of the record.
      const e = "slot" in event ? withoutSlot(event) : event;
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

  /** Lines read so far. */
  get lineNo(): number {
    return this.#lineNo;
  }

  /** The items of one line (none for the header and process lines). */
  line(text: string): RecordItem[] {
    this.#lineNo++;
    if (text.trim() === "") return [];
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw this.#bad(`not JSON (${excerpt((e as Error).message)})`);
    }
    if (!isObject(v)) throw this.#bad("not a JSON object");
    if (!this.header) {
      this.header = this.#header(v);
      return [];
    }
    switch (v.t) {
      case "p": {
        const ref = v.ref;
        if (!isInt(ref) || !isObject(v.info)) throw this.#bad("a process line needs an integer ref and an info object");
        const info = processInfoOf(v.info);
        if (typeof info === "string") throw this.#bad(`the process details ${info}`);
        this.#processes.set(ref, info);
        return [];
      }
      case "e": {
        const e = v.e;
        if (!isObject(e) || typeof e.type !== "string" || !isNum(e.time)) throw this.#bad("an event line needs an event with a type and a numeric time");
        const why = eventProblem(e);
        if (why === "unknown") return [];
        if (why) throw this.#bad(`the ${excerpt(e.type, 20)} event ${why}`);
        if (e.type === "connect") {
          const process = this.#processes.get(e.process as number);
          if (!process) throw this.#bad(`the connect names process ref ${excerpt(String(e.process), 20)}, which no earlier line defines`);
          return [{ kind: "event", event: { ...(e as unknown as ConnectionEvent), process } as ConnectionEvent }];
        }
        return [{ kind: "event", event: e as unknown as ConnectionEvent }];
      }
      case "k":
      case "end":
        if (!isNum(v.time)) throw this.#bad(`a ${v.t === "k" ? "tick" : "end"} line needs a numeric time`);
        return [{ kind: v.t === "k" ? "tick" : "end", time: v.time }];
      default:
        return [];
    }
  }

  #header(v: Record<string, unknown>): RecordHeader {
    if (v.format !== RECORD_FORMAT) throw this.#bad(`not a halfopen record: the first line must have "format": "${RECORD_FORMAT}"`);
    if (!isInt(v.version) || v.version < 1) throw this.#bad(`the header's "version" must be a whole number (got ${excerpt(JSON.stringify(v.version) ?? "none", 40)})`);
    if (v.version > RECORD_VERSION) throw this.#bad(`record version ${v.version} is newer than this halfopen reads (${RECORD_VERSION}); upgrade halfopen`);
    for (const [field, ok] of [
      ["source", typeof v.source === "string"],
      ["exact", typeof v.exact === "boolean"],
      ["startedAtWall", isNum(v.startedAtWall)],
      ["wallOffsetMs", isNum(v.wallOffsetMs)],
      ["host", v.host === undefined || typeof v.host === "string"],
      ["watch", v.watch === undefined || isObject(v.watch)],
    ] as const)
      if (!ok) throw this.#bad(`the header's "${field}" is missing or of the wrong type`);
    return { format: RECORD_FORMAT, version: v.version, source: v.source as string, exact: v.exact as boolean, startedAtWall: v.startedAtWall as number, wallOffsetMs: v.wallOffsetMs as number, ...(v.host === undefined ? {} : { host: v.host as string }), ...(v.watch === undefined ? {} : { watch: v.watch as Record<string, unknown> }) };
  }

  #bad(why: string): HalfOpenError {
    return new HalfOpenError(ErrorCodes.BAD_RECORD, `Cannot read the record at line ${this.#lineNo}: ${why}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isEndpoint = (v: unknown) => isObject(v) && typeof v.address === "string" && isInt(v.port) && (v.port as number) >= 0 && (v.port as number) <= 65_535;
const optional = (v: unknown, check: (x: unknown) => boolean) => v === undefined || check(v);
const isString = (v: unknown) => typeof v === "string";
const isBool = (v: unknown) => typeof v === "boolean";

function withoutSlot(e: ConnectionEvent): ConnectionEvent {
  const copy = { ...e } as ConnectionEvent & { slot?: number };
  delete copy.slot;
  return copy;
}

/** Why an event's fields are not what its type needs; "unknown" for a type this version does not know (skipped). */
function eventProblem(e: Record<string, unknown>): string | undefined {
  const need = (checks: [string, boolean][]) => checks.find(([, ok]) => !ok)?.[0];
  let bad: string | undefined;
  switch (e.type) {
    case "connect":
      bad = need([
        ["sock", isString(e.sock)],
        ["pid", isInt(e.pid)],
        ["tid", optional(e.tid, isInt)],
        ["family", e.family === 4 || e.family === 6],
        ["src", isEndpoint(e.src)],
        ["dst", isEndpoint(e.dst)],
        ["process", isInt(e.process)],
        ["seenAtStart", optional(e.seenAtStart, isBool)],
        ["via", optional(e.via, (v) => v === "raw" || v === "packet")],
      ]);
      break;
    case "drop":
      bad = need([
        ["sock", isString(e.sock)],
        ["reason", isString(e.reason)],
      ]);
      break;
    case "dns":
      bad = need([
        ["address", isString(e.address)],
        ["name", isString(e.name)],
        ["ttl", isInt(e.ttl)],
        ["netns", optional(e.netns, isInt)],
      ]);
      break;
    case "leave":
      bad = need([
        ["sock", isString(e.sock)],
        ["newState", isInt(e.newState)],
        ["srcPort", optional(e.srcPort, isInt)],
        ["inInterrupt", isBool(e.inInterrupt)],
        ["vanished", optional(e.vanished, isBool)],
      ]);
      break;
    case "reset":
    case "retransmit":
      bad = need([["sock", isString(e.sock)]]);
      break;
    case "exit":
      bad = need([
        ["pid", isInt(e.pid)],
        ["name", isString(e.name)],
      ]);
      break;
    case "lost":
      bad = need([
        ["count", isInt(e.count) && (e.count as number) >= 0],
        ["cpu", optional(e.cpu, isInt)],
      ]);
      break;
    case "blind":
      bad = need([
        ["since", isNum(e.since)],
        ["durationMs", isNum(e.durationMs)],
        ["reason", isString(e.reason)],
        ["ongoing", optional(e.ongoing, isBool)],
      ]);
      break;
    case "os-limit":
      bad = need([
        ["timeWall", isNum(e.timeWall)],
        ["source", isString(e.source)],
        ["recordId", optional(e.recordId, isNum)],
      ]);
      break;
    default:
      return "unknown";
  }
  return bad === undefined ? undefined : `has no valid "${bad}"`;
}

/** A process's details copied field by field (unknown fields dropped), or why they cannot be. */
function processInfoOf(v: Record<string, unknown>): ProcessInfo | string {
  const strings = (x: unknown) => Array.isArray(x) && x.every(isString);
  const container = (x: unknown) => isObject(x) && isString(x.runtime) && isString(x.id) && isString(x.shortId);
  const pod = (x: unknown) => isObject(x) && isString(x.uid) && isString(x.qos);
  const checks: [keyof ProcessInfo, boolean][] = [
    ["pid", isInt(v.pid)],
    ["name", isString(v.name)],
    ["exe", optional(v.exe, isString)],
    ["cmdline", optional(v.cmdline, strings)],
    ["uid", optional(v.uid, isInt)],
    ["user", optional(v.user, isString)],
    ["ppid", optional(v.ppid, isInt)],
    ["netns", optional(v.netns, isInt)],
    ["netnsName", optional(v.netnsName, isString)],
    ["cgroup", optional(v.cgroup, isString)],
    ["unit", optional(v.unit, isString)],
    ["slice", optional(v.slice, isString)],
    ["container", optional(v.container, container)],
    ["pod", optional(v.pod, pod)],
    ["startTime", optional(v.startTime, isNum)],
    ["partial", optional(v.partial, isBool)],
    ["truncated", optional(v.truncated, strings)],
  ];
  const wrong = checks.find(([, ok]) => !ok);
  if (wrong) return `have no valid "${wrong[0]}"`;
  const info: Record<string, unknown> = {};
  for (const [k] of checks) if (v[k] !== undefined && k !== "container" && k !== "pod") info[k] = v[k];
  const c = v.container as Record<string, string> | undefined;
  if (c) info.container = { runtime: c.runtime, id: c.id, shortId: c.shortId };
  const p = v.pod as Record<string, string> | undefined;
  if (p) info.pod = { uid: p.uid, qos: p.qos };
  return info as unknown as ProcessInfo;
}
