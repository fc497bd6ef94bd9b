/**
 * Bounds for the strings a process controls about itself (its command line,
 * executable path, name). A hostile process can make its arguments megabytes
 * long; halfopen keeps at most `MAX_PROCESS_TEXT_BYTES` of each, marks what it
 * cut, and an incident keeps whole command lines only up to a byte budget, so
 * one burst of such processes cannot bloat memory, the JSON lines or the
 * database (and through retention evict the history of other incidents). Pure.
 *
 * @example
 * ```ts
 * import { capArgs } from "./process-text.js";
 * const { args, truncated } = capArgs(["node", "x".repeat(10_000)], 64);
 * // args[1] is cut so the whole list fits 64 bytes; truncated === true
 * ```
 */

/**
 * Characters that must never reach a terminal, a label or a CSV cell raw:
 * C0 and C1 controls, DEL, and the bidirectional marks and overrides that
 * reorder what a reader sees (U+200E/F, U+202A-E, U+2066-9).
 */
// eslint-disable-next-line no-control-regex
export const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every UNSAFE_TEXT character written as a visible escape (`\x1b`, `\u202e`): safe for a terminal, a log line or an error message. */
export function escapeUnsafe(s: string): string {
  return s.replace(UNSAFE_TEXT, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Input quoted in an error message: escaped, and at most `max` characters (with "…" when cut). */
export function excerpt(s: string, max = 120): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return escapeUnsafe(cut);
}

/** Bytes kept of each process-controlled string (the command line counts as one). */
export const MAX_PROCESS_TEXT_BYTES = 4096;

/** Bytes of command lines (summed) an incident keeps whole; later processes keep a shortened one. */
export const INCIDENT_TEXT_BUDGET_BYTES = 65_536;

/** Command-line bytes a process keeps once an incident's text budget is spent. */
export const SHORT_CMDLINE_BYTES = 256;

/** `s` cut to at most `maxBytes` of UTF-8 (never inside a character). */
export function capText(s: string, maxBytes: number): { text: string; truncated: boolean } {
  if (s.length <= maxBytes / 3 || Buffer.byteLength(s) <= maxBytes) return { text: s, truncated: false };
  let bytes = 0;
  let i = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += ch.length;
  }
  return { text: s.slice(0, i), truncated: true };
}

/** Arguments cut so their UTF-8 bytes (plus one separator each) fit `maxBytes`. */
export function capArgs(args: readonly string[], maxBytes: number): { args: string[]; truncated: boolean } {
  const out: string[] = [];
  let left = maxBytes;
  for (const a of args) {
    const { text, truncated } = capText(a, left);
    if (truncated) {
      if (text !== "") out.push(text);
      return { args: out, truncated: true };
    }
    out.push(text);
    left -= Buffer.byteLength(text) + 1;
    if (left < 0) return { args: out, truncated: out.length < args.length };
  }
  return { args: out, truncated: false };
}

/** UTF-8 bytes of a command line as stored (arguments plus separators). */
export function argsBytes(args: readonly string[] | undefined): number {
  if (!args) return 0;
  let n = 0;
  for (const a of args) n += Buffer.byteLength(a) + 1;
  return n;
}
