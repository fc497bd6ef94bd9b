/**
 * Parsers for command-line values, shared by every command. Each throws a
 * HalfOpenError BAD_USAGE (exit code 2) that names the option and the value.
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { SOURCE_NAMES, type SourceName } from "../platform/select.js";

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

/** Seconds, possibly fractional, within [min, max]. */
export function parseSecondsOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${name} "${value}": expected seconds from ${min} to ${max}`);
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
