/**
 * Parsers for command-line values, shared by every command. Each throws a
 * HalfOpenError BAD_USAGE (exit code 2) that names the option and the value.
 */
import { isIP } from "node:net";
import { type Command, Option } from "commander";
import { GROUP_BY, type GroupBy } from "../core/attribution.js";
import { parseDuration } from "../core/duration.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { SOURCE_NAMES, type SourceName } from "../platform/source-names.js";

/** An integer within [min, max]. */
export function parseIntOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${value}": expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/**
 * A time in seconds within [min, max]: a plain number is seconds (as it always
 * was), or a duration with its unit, the grammar of every duration option
 * (`250ms`, `90s`, `5m`, `1h`, `2d`; core/duration.ts).
 */
export function parseSecondsOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const t = value.trim();
    let n = Number(t);
    if (t !== "" && !Number.isFinite(n)) {
      try {
        n = parseDuration(name, t) / 1000;
      } catch {
        n = Number.NaN;
      }
    }
    if (t === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${value.slice(0, 100)}": expected seconds from ${min} to ${max}, or a duration such as 90s, 5m or 1h`);
    }
    return n;
  };
}

/** Collects a repeatable option into an array. */
export function collect<T>(parse: (v: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), ...value.split(",").filter(Boolean).map(parse)];
}

/** A `--source` value (watch and ls). */
export function parseSourceOption(v: string): SourceName {
  if (!(SOURCE_NAMES as readonly string[]).includes(v)) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --source "${v}": expected one of ${SOURCE_NAMES.join(", ")}`);
  }
  return v as SourceName;
}

/** `ADDR`, `ADDR:PORT`, `[V6]:PORT` or a bare IPv6 address (`--dst`). */
export function parseDestination(v: string): { address: string; port: number | undefined } {
  const bad = () => new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --dst "${v}": expected an address, ADDRESS:PORT or [IPv6]:PORT`);
  let address = v.trim();
  let port: number | undefined;
  const bracket = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(address);
  if (bracket) {
    address = bracket[1] ?? "";
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (/^[\d.]+:\d+$/.test(address)) {
    const i = address.lastIndexOf(":");
    port = Number(address.slice(i + 1));
    address = address.slice(0, i);
  }
  if (isIP(address) === 0 || (port !== undefined && (port < 1 || port > 65_535))) throw bad();
  // The WHATWG URL parser writes IPv6 in the compressed form the socket table uses.
  if (isIP(address) === 6) address = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  return { address, port };
}

/** A `--by` value (ls). */
export function parseGroupBy(v: string): GroupBy {
  if (!(GROUP_BY as readonly string[]).includes(v)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --by "${v}": expected one of ${GROUP_BY.join(", ")}`);
  return v as GroupBy;
}

/**
 * `-n, --rows N`: how many rows a listing shows (0: all). `--limit` is the
 * half-open limit in `watch` and `simulate`, so here it is only an old
 * spelling of --rows: still accepted, hidden from --help, with a notice.
 */
export function addRowsOption(cmd: Command, fallback: number): Command {
  return cmd.option("-n, --rows <n>", "at most this many rows (0: all)", parseIntOption("--rows", 0), fallback).addOption(
    new Option("--limit <n>", "old spelling of --rows").hideHelp().argParser((v: string) => {
      process.stderr.write("halfopen: --limit here is the old spelling of --rows (--limit is the half-open limit in watch and simulate); it still works\n");
      return parseIntOption("--limit", 0)(v);
    }),
  );
}

/** The rows asked for: --rows, or the old --limit. */
export const rowsOf = (o: { rows: number; limit?: number }): number => o.limit ?? o.rows;
