/**
 * The resume journal of `halfopen scan --resume FILE`: JSON Lines, written
 * as the scan goes, so an interrupted scan (Ctrl-C, kill -9, a reboot) can
 * continue without redoing the hosts it finished. Pure: builds and reads the
 * text; the CLI appends it to the file.
 *
 *   {"type":"halfopen-scan-journal","version":1,"startedAt":...,"spec":{...}}   what is scanned
 *   {"type":"host","host":{...}}                                             one per finished host (up or down)
 *   {"type":"end","summary":{...}}                                           the scan finished
 *
 * A process killed while writing leaves a torn last line: it is ignored
 * (`validBytes` says where the whole lines end, so the writer cuts it off
 * before appending). A torn line anywhere else, or a line that is not one of
 * these, means the file is not a journal halfopen wrote: HALFOPEN_BAD_RESUME.
 */
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { XmlHost } from "./nmap-xml.js";

export const JOURNAL_TYPE = "halfopen-scan-journal";
export const JOURNAL_VERSION = 1;

/** What a scan covers: a resumed scan must cover the same. */
export interface ScanSpec {
  targets: string[];
  exclude: string[];
  ports: number[];
  discovery: "auto" | "connect" | "none";
  shard?: { index: number; count: number };
  maxHalfOpen: number;
  retries: number;
  bannerMs?: number;
}

/** The fields that decide which (address, port) pairs a scan checks and how hosts are found. */
export function specKey(spec: ScanSpec): string {
  return JSON.stringify({
    targets: spec.targets,
    exclude: spec.exclude,
    ports: spec.ports,
    discovery: spec.discovery,
    shard: spec.shard ? `${spec.shard.index}/${spec.shard.count}` : null,
  });
}

export interface Journal {
  startedAt: number;
  spec: ScanSpec;
  /** Every finished host, in the order written (down ones too: they are not scanned again). */
  hosts: XmlHost[];
  /** An "end" line was written: the scan finished. */
  complete: boolean;
  /** The summary the "end" line holds. */
  endSummary?: Record<string, unknown>;
  /** Bytes up to the end of the last whole line. */
  validBytes: number;
}

export const journalHeader = (spec: ScanSpec, startedAt: number): string => `${JSON.stringify({ type: JOURNAL_TYPE, version: JOURNAL_VERSION, startedAt, spec })}\n`;
export const journalHost = (host: XmlHost): string => `${JSON.stringify({ type: "host", host })}\n`;
export const journalEnd = (summary: object): string => `${JSON.stringify({ type: "end", summary })}\n`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function checkSpec(v: unknown): v is ScanSpec {
  if (!isObject(v)) return false;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === "string");
  return (
    strings(v.targets) &&
    strings(v.exclude) &&
    Array.isArray(v.ports) &&
    v.ports.every((p) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535) &&
    (v.discovery === "auto" || v.discovery === "connect" || v.discovery === "none") &&
    Number.isInteger(v.maxHalfOpen) &&
    Number.isInteger(v.retries) &&
    (v.shard === undefined || (isObject(v.shard) && Number.isInteger(v.shard.index) && Number.isInteger(v.shard.count)))
  );
}

function checkHost(v: unknown): v is XmlHost {
  return (
    isObject(v) &&
    typeof v.address === "string" &&
    (v.family === 4 || v.family === 6) &&
    (v.status === "up" || v.status === "down") &&
    typeof v.reason === "string" &&
    Array.isArray(v.ports) &&
    v.ports.every((p) => isObject(p) && Number.isInteger(p.port) && typeof p.state === "string" && typeof p.reason === "string") &&
    typeof v.startedAt === "number" &&
    typeof v.endedAt === "number"
  );
}

/** Reads a journal. `file` names it in errors. Throws HalfOpenError BAD_RESUME. */
export function readJournal(text: string, file: string): Journal {
  const bad = (line: number, why: string) => new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${file}": line ${line} ${why}; it is not a journal halfopen scan --resume wrote (nothing was changed)`);
  const end = text.lastIndexOf("\n") + 1;
  const lines = text.slice(0, end).split("\n");
  lines.pop(); // after the last newline
  if (lines.length === 0) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${file}": it holds no whole line (an empty or torn journal); delete it to scan from the start`);
  let journal: Journal | undefined;
  lines.forEach((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw bad(i + 1, "is not JSON");
    }
    if (!isObject(v)) throw bad(i + 1, "is not a JSON object");
    if (i === 0) {
      if (v.type !== JOURNAL_TYPE) throw bad(1, `has type ${JSON.stringify(v.type)}, not ${JOURNAL_TYPE}`);
      if (v.version !== JOURNAL_VERSION) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${file}": journal version ${String(v.version)}, this halfopen reads ${JOURNAL_VERSION}`);
      if (!checkSpec(v.spec) || typeof v.startedAt !== "number") throw bad(1, "does not say what the scan covers");
      journal = { startedAt: v.startedAt, spec: v.spec, hosts: [], complete: false, validBytes: end };
      return;
    }
    const j = journal as Journal;
    if (j.complete) throw bad(i + 1, "comes after the end of the scan");
    if (v.type === "host") {
      if (!checkHost(v.host)) throw bad(i + 1, "is not a host result");
      j.hosts.push(v.host);
    } else if (v.type === "end") {
      j.complete = true;
      if (isObject(v.summary)) j.endSummary = v.summary;
    }
    else throw bad(i + 1, `has an unknown type ${JSON.stringify(v.type)}`);
  });
  return journal as Journal;
}

/** Why a command line's scan is not the journal's, or undefined when it is the same. */
export function specMismatch(journal: ScanSpec, given: ScanSpec): string | undefined {
  const show = (s: ScanSpec) => ({ targets: s.targets.join(" "), exclude: s.exclude.join(",") || "(none)", ports: s.ports.join(","), discovery: s.discovery, shard: s.shard ? `${s.shard.index}/${s.shard.count}` : "(none)" });
  const a = show(journal);
  const b = show(given);
  for (const k of Object.keys(a) as (keyof typeof a)[]) if (a[k] !== b[k]) return `${k}: the journal has ${a[k]}, the command line ${b[k]}`;
  return undefined;
}
