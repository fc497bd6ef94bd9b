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
import stringWidth from "string-width";
import { escapeUnsafe } from "../core/process-text.js";

export const forTerminal = escapeUnsafe;

let chosenWidth: number | undefined;

/** `--width N` (any command): text lines fit N columns. */
export function setOutputWidth(columns: number | undefined): void {
  chosenWidth = columns;
}

/**
 * The columns a line of text may use: `--width N` less one, else the
 * terminal's width less one (a line never wraps), else unlimited: output
 * to a pipe or a file is never cut.
 */
export function cols(stream: NodeJS.WriteStream = process.stdout): number {
  if (chosenWidth !== undefined) return chosenWidth - 1;
  if (stream.isTTY && stream.columns) return Math.max(40, stream.columns) - 1;
  return Number.POSITIVE_INFINITY;
}

/** Terminal cells a string takes (a CJK character or an emoji takes two). */
export const cells = (s: string): number => stringWidth(s);

/** Shorten to `width` terminal cells with a trailing "…" when cut. */
export function fit(s: string, width: number): string {
  if (width === Number.POSITIVE_INFINITY || s.length * 2 <= width) return s;
  if (cells(s) <= width) return s;
  let out = "";
  let used = 0;
  for (const ch of s) {
    const w = cells(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** `s` padded with spaces to `width` terminal cells (padEnd counts UTF-16 units, not cells). */
export function padCells(s: string, width: number): string {
  return s + " ".repeat(Math.max(0, width - cells(s)));
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
