/**
 * Parsers for tracefs self-descriptions: an event's `format` file (id and
 * field offsets) and `events/header_page` (layout of a ring-buffer page).
 * Decoding binary records with these offsets, as libtraceevent does, keeps us
 * correct across kernel versions without hard-coded layouts. Pure.
 */
import { ErrorCodes, HalfOpenError } from "../../errors.js";

/** One field of a trace event record. */
export interface EventField {
  name: string;
  /** C type as written, e.g. `const void *`, `__u8`. */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** Element count for fixed arrays (`saddr[4]` -> 4). */
  arrayLength?: number;
}

/** A parsed `format` file. */
export interface EventFormat {
  name: string;
  id: number;
  fields: Map<string, EventField>;
  /** The `print fmt:` line's `__print_symbolic` pairs, value -> name (e.g. skb:kfree_skb's drop reasons). */
  symbols?: Map<number, string>;
}

/** The `{ N, "NAME" }` pairs of a format's print fmt line (how the kernel names an enum it prints). */
export function parseSymbols(text: string): Map<number, string> {
  const out = new Map<number, string>();
  const line = /^print fmt:.*$/m.exec(text)?.[0] ?? "";
  for (const m of line.matchAll(/\{\s*(\d+)\s*,\s*"([A-Z0-9_]+)"\s*\}/g)) out.set(Number(m[1]), m[2] as string);
  return out;
}

const FIELD_RE = /^\s*field:\s*(.+?);\s*offset:\s*(\d+);\s*size:\s*(\d+);\s*signed:\s*(-?\d+);/;

/** Parse one `field:` line into its declaration parts. */
function parseFieldLine(line: string): EventField | undefined {
  const m = FIELD_RE.exec(line);
  if (!m) return undefined;
  const decl = (m[1] ?? "").trim();
  // The name is the last identifier, optionally followed by [N] or [].
  const dm = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(\d*)\])?$/.exec(decl);
  if (!dm) return undefined;
  const field: EventField = {
    name: dm[2] ?? "",
    type: (dm[1] ?? "").trim(),
    offset: Number(m[2]),
    size: Number(m[3]),
    signed: m[4] === "1",
  };
  if (dm[3]) field.arrayLength = Number(dm[3]);
  return field;
}

/**
 * Parse the text of `events/<system>/<event>/format`.
 *
 * @example
 * ```ts
 * const f = parseEventFormat(readFileSync(".../inet_sock_set_state/format", "utf8"));
 * f.fields.get("skaddr") // { offset: 8, size: 8, ... }
 * ```
 */
export function parseEventFormat(text: string): EventFormat {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1];
  const id = /^ID:\s*(\d+)/m.exec(text)?.[1];
  if (!name || !id) {
    throw new HalfOpenError(ErrorCodes.BAD_FORMAT, `Cannot parse tracefs event format "${text.slice(0, 60)}": no name or ID line`);
  }
  const fields = new Map<string, EventField>();
  for (const line of text.split("\n")) {
    const f = parseFieldLine(line);
    if (f) fields.set(f.name, f);
  }
  if (fields.size === 0) {
    throw new HalfOpenError(ErrorCodes.BAD_FORMAT, `Cannot parse tracefs event format "${name}": no fields`);
  }
  return { name, id: Number(id), fields };
}

/** Layout of a ring-buffer page, from `events/header_page`. */
export interface PageLayout {
  timestampOffset: number;
  commitOffset: number;
  /** Bytes of the commit word (8 on 64-bit kernels, 4 on 32-bit). */
  commitSize: number;
  dataOffset: number;
  /** Bytes available for events in one page. */
  dataSize: number;
}

/** Parse the text of `events/header_page`. */
export function parseHeaderPage(text: string): PageLayout {
  const fields = new Map<string, EventField>();
  for (const line of text.split("\n")) {
    const f = parseFieldLine(line.replace("field: ", "field:"));
    if (f && !fields.has(f.name)) fields.set(f.name, f);
  }
  const ts = fields.get("timestamp");
  const commit = fields.get("commit");
  const data = fields.get("data");
  if (!ts || !commit || !data) {
    throw new HalfOpenError(ErrorCodes.BAD_FORMAT, `Cannot parse tracefs header_page "${text.slice(0, 60)}": timestamp, commit or data missing`);
  }
  return { timestampOffset: ts.offset, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset, dataSize: data.size };
}
