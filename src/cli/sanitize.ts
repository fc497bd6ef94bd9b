/**
 * Terminal safety for strings a process controls (its name, its command
 * line): control characters, DEL, C1 controls and bidirectional overrides are
 * shown as visible escapes so they cannot move the cursor, recolour the
 * terminal or reorder what the user reads. Pure.
 *
 * @example
 * ```ts
 * forTerminal("evil\x1b[2Jname") // "evil\\x1b[2Jname"
 * ```
 */
import { escapeUnsafe } from "../core/process-text.js";

export const forTerminal = escapeUnsafe;

/** Shorten to `width` columns with a trailing "…" when cut. */
export function fit(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * Control characters and bidirectional overrides are written as visible
 * escapes (as on the terminal: `cat` of the file must not run an escape
 * sequence), then a cell a spreadsheet would evaluate as a formula (starting
 * with =, +, @, or - before a digit, "=", "(" or "+") gets a leading
 * apostrophe. A login shell's "-bash" is left alone.
 */
export function csvSafe(value: string): string {
  const v = forTerminal(value);
  return /^([=+@]|-[\d=(+])/.test(v) ? `'${v}` : v;
}
