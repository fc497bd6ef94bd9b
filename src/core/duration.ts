/**
 * Time values on the command line: `--since 1h`, `--until 2026-11-21T08:00`,
 * `--retain 30d`. Durations are read by `ms` ("90s", "15m", "1h", "2d",
 * "1w", "1.5h"); points in time are a duration ago or an ISO 8601 date or
 * date-time (local time unless it ends in Z or an offset). Pure.
 */
import ms from "ms";
import { ErrorCodes, HalfOpenError } from "../errors.js";

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** A positive duration in ms, or a BAD_USAGE error naming the option. */
export function parseDuration(option: string, text: string): number {
  const t = text.trim();
  // ms() reads a bare number as milliseconds; on the command line that is a trap.
  let value: number | undefined;
  try {
    value = /^\d+(?:\.\d+)?$/.test(t) ? undefined : (ms as (s: string) => number | undefined)(t);
  } catch {
    value = undefined; // ms throws on "" and on strings over 100 characters
  }
  if (value === undefined || !Number.isFinite(value) || value <= 0) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} "${text}": expected a duration such as 90s, 15m, 1h, 2d or 1w`);
  }
  return value;
}

/** A point in time (ms since the epoch): a duration before `nowMs`, or an ISO 8601 date or date-time. */
export function parseTimePoint(option: string, text: string, nowMs: number): number {
  const t = text.trim();
  if (ISO.test(t)) {
    // A date alone is midnight local time (Date.parse would read it as UTC).
    const value = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00` : t.replace(" ", "T"));
    if (Number.isFinite(value)) return value;
  } else if (!/^\d{4}-/.test(t)) {
    try {
      return nowMs - parseDuration(option, t);
    } catch {
      // fall through to the error that mentions both forms
    }
  }
  throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use ${option} "${text}": expected a duration ago (90s, 15m, 1h, 2d, 1w) or an ISO date or date-time (2026-11-21, 2026-11-21T08:00, 2026-11-21T08:00Z)`);
}
