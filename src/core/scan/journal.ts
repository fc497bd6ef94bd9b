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
import { excerpt } from "../process-text.js";
import type { HostResult, ScanSpec } from "./model.js";

export { specKey, type ScanSpec } from "./model.js";
import { parseTarget } from "./targets.js";

export const JOURNAL_TYPE = "halfopen-scan-journal";
export const JOURNAL_VERSION = 1;

export interface Journal {
  startedAt: number;
  spec: ScanSpec;
  /** Every finished host, in the order written (down ones too: they are not scanned again). */
  hosts: HostResult[];
  /** An "end" line was written: the scan finished. */
  complete: boolean;
  /** The summary the "end" line holds. */
  endSummary?: Record<string, unknown>;
  /** Bytes up to the end of the last whole line. */
  validBytes: number;
}

export const journalHeader = (spec: ScanSpec, startedAt: number): string => `${JSON.stringify({ type: JOURNAL_TYPE, version: JOURNAL_VERSION, startedAt, spec })}\n`;
export const journalHost = (host: HostResult): string => `${JSON.stringify({ type: "host", host })}\n`;
export const journalEnd = (summary: object): string => `${JSON.stringify({ type: "end", summary })}\n`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why a spec (from a journal: input from anywhere) is not one the CLI would make, or undefined when it is. The same bounds as the options. */
export function specProblem(v: unknown): string | undefined {
  if (!isObject(v)) return "has no spec object";
  const strings = (x: unknown) => Array.isArray(x) && x.length <= 100_000 && x.every((s) => typeof s === "string" && s.length <= 1024);
  if (!strings(v.targets) || (v.targets as string[]).length === 0) return "has no list of targets";
  if (!strings(v.exclude)) return "has no list of excludes";
  for (const t of [...(v.targets as string[]), ...(v.exclude as string[])]) {
    try {
      parseTarget(t);
    } catch (e) {
      return `names a target the scanner refuses (${(e as Error).message})`;
    }
  }
  const ports = v.ports;
  // No ports is a discovery-only scan (-sn), which needs discovery.
  const discoveryOnly = Array.isArray(ports) && ports.length === 0 && v.discovery !== "none";
  if (!Array.isArray(ports) || (ports.length === 0 && !discoveryOnly) || ports.length > 65_535 || !ports.every((p) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535)) return "has no valid port list (1-65535)";
  if (new Set(ports).size !== ports.length) return "lists a port twice";
  if (v.discovery !== "auto" && v.discovery !== "connect" && v.discovery !== "none") return "has no valid discovery (auto, connect or none)";
  const int = (x: unknown, lo: number, hi: number) => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
  if (!int(v.maxHalfOpen, 1, 100_000)) return "has a maxHalfOpen outside 1-100000 (--max-half-open's range)";
  if (!int(v.retries, 0, 20)) return "has retries outside 0-20 (--retries' range)";
  if (v.timing !== undefined && !int(v.timing, 0, 5)) return "has a timing outside 0-5 (-T's range)";
  if (v.bannerMs !== undefined && !(typeof v.bannerMs === "number" && v.bannerMs >= 10 && v.bannerMs <= 60_000)) return "has a bannerMs outside 10-60000 (--banner's range)";
  if (v.shard !== undefined) {
    const sh = v.shard;
    if (!isObject(sh) || !int(sh.count, 1, 1_000_000) || !int(sh.index, 1, sh.count as number)) return "has a shard that is not k/n with 1 ≤ k ≤ n ≤ 1000000 (--shard's range)";
  }
  return undefined;
}

function checkHost(v: unknown): v is HostResult {
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

/**
 * Reads a journal line by line (the CLI streams the file: a journal can be
 * large). `file` names it in errors. `line()` throws HalfOpenError
 * BAD_RESUME; a last line no newline ended is a torn write and is ignored.
 */
export class JournalReader {
  readonly #file: string;
  #journal: Journal | undefined;
  #validBytes = 0;

  constructor(file: string) {
    this.#file = file;
  }

  #bad(line: number, why: string): HalfOpenError {
    return new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${this.#file}": line ${line} ${why}; it is not a journal halfopen scan --resume wrote (nothing was changed)`);
  }

  /** One line; `terminated` false for a last line without a newline (ignored: a torn write). `endOffset`: bytes to the end of it. */
  line(text: string, number: number, terminated: boolean, endOffset: number): void {
    if (!terminated) return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw this.#bad(number, "is not JSON");
    }
    if (!isObject(v)) throw this.#bad(number, "is not a JSON object");
    this.#validBytes = endOffset;
    if (number === 1) {
      if (v.type !== JOURNAL_TYPE) throw this.#bad(1, `has type ${excerpt(JSON.stringify(v.type) ?? "none", 40)}, not ${JOURNAL_TYPE}`);
      if (v.version !== JOURNAL_VERSION) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${this.#file}": journal version ${excerpt(String(v.version), 20)}, this halfopen reads ${JOURNAL_VERSION}`);
      const why = specProblem(v.spec);
      if (why) throw this.#bad(1, `does not say what the scan covers: its spec ${why}`);
      if (typeof v.startedAt !== "number") throw this.#bad(1, "does not say when the scan started");
      this.#journal = { startedAt: v.startedAt, spec: v.spec as ScanSpec, hosts: [], complete: false, validBytes: 0 };
      return;
    }
    const j = this.#journal as Journal;
    if (j.complete) throw this.#bad(number, "comes after the end of the scan");
    if (v.type === "host") {
      if (!checkHost(v.host)) throw this.#bad(number, "is not a host result");
      j.hosts.push(v.host);
    } else if (v.type === "end") {
      j.complete = true;
      if (isObject(v.summary)) j.endSummary = v.summary;
    } else throw this.#bad(number, `has an unknown type ${excerpt(JSON.stringify(v.type) ?? "none", 40)}`);
  }

  /** The journal read; throws when not even the header line was whole. */
  result(): Journal {
    if (!this.#journal) throw new HalfOpenError(ErrorCodes.BAD_RESUME, `Cannot resume from "${this.#file}": it holds no whole line (an empty or torn journal); delete it to scan from the start`);
    return { ...this.#journal, validBytes: this.#validBytes };
  }
}

/** Reads a whole journal from its text (JournalReader over its lines). */
export function readJournal(text: string, file: string): Journal {
  const reader = new JournalReader(file);
  let offset = 0;
  let number = 0;
  for (const part of text.split("\n")) {
    const terminated = offset + part.length < text.length;
    if (!terminated && part === "") break;
    offset += part.length + (terminated ? 1 : 0);
    reader.line(part, ++number, terminated, offset);
  }
  return reader.result();
}

/** Why a command line's scan is not the journal's, or undefined when it is the same. */
export function specMismatch(journal: ScanSpec, given: ScanSpec): string | undefined {
  const show = (s: ScanSpec) => ({ targets: s.targets.join(" "), exclude: s.exclude.join(",") || "(none)", ports: s.ports.join(",") || "(none: -sn)", discovery: s.discovery, shard: s.shard ? `${s.shard.index}/${s.shard.count}` : "(none)" });
  const a = show(journal);
  const b = show(given);
  for (const k of Object.keys(a) as (keyof typeof a)[]) if (a[k] !== b[k]) return `${k}: the journal has ${a[k]}, the command line ${b[k]}`;
  return undefined;
}
