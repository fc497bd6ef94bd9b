/**
 * Decoder of one ftrace ring-buffer page, as read from
 * `per_cpu/cpuN/trace_pipe_raw`. Layout from kernel/trace/ring_buffer.c:
 *
 *   page:  u64 timestamp | commit word | data ...
 *          commit low bits = bytes of data; bit 31 = events were lost before
 *          this page; bit 30 = the lost count is stored after the data.
 *   event: u32 header = type_len:5 | time_delta:27, then
 *          type_len 1..28   data of type_len*4 bytes follows
 *          type_len 0       u32 length (incl. itself), then data
 *          type_len 29      padding: time_delta 0 = end of data, else a
 *                           discarded event of array[0] more bytes
 *          type_len 30      time extend: delta = array[0] << 27 | time_delta
 *          type_len 31      absolute time stamp (same encoding)
 *
 * Pure: bytes in, records out.
 */
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { PageLayout } from "./tracefs-format.js";

const RB_MISSED_EVENTS = 2 ** 31;
const RB_MISSED_STORED = 2 ** 30;
const COMMIT_MASK = 0xfffff; // data lengths fit in 20 bits (pages up to 1 MiB)
const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const TYPE_TIME_STAMP = 31;
const TS_SHIFT = 27;

/** One event record: its timestamp (ns) and where its payload sits in the page. */
export interface RawRecord {
  timestampNs: number;
  /** Offset of the payload (the event's own fields start here, common_type first). */
  offset: number;
  length: number;
}

export interface DecodedPage {
  records: RawRecord[];
  /** Events lost before this page: a count, -1 when lost but not counted, 0 when none. */
  lost: number;
}

/**
 * Decode a page. `page` holds one whole page as read (its length is the page
 * size); records point into it.
 *
 * @example
 * ```ts
 * const { records } = decodePage(buf, layout);
 * for (const r of records) console.log(r.timestampNs, buf.readUInt16LE(r.offset));
 * ```
 */
export function decodePage(page: Buffer, layout: PageLayout): DecodedPage {
  const records: RawRecord[] = [];
  const lost = visitPage(page, layout, (timestampNs, offset, length) => {
    records.push({ timestampNs, offset, length });
  });
  return { records, lost };
}

/**
 * Walk a page's records without making an object for each (the hot path: tens of thousands a second): `visit` gets
 * each record's timestamp (ns), payload offset and length. Returns what decodePage's `lost` says.
 */
export function visitPage(page: Buffer, layout: PageLayout, visit: (timestampNs: number, offset: number, length: number) => void): number {
  if (page.length < layout.dataOffset) {
    throw new HalfOpenError(ErrorCodes.BAD_PAGE, `Cannot decode ring-buffer page of ${page.length} bytes: shorter than its header`);
  }
  const base = Number(page.readBigUInt64LE(layout.timestampOffset));
  const commitWord = layout.commitSize === 8 ? Number(page.readBigUInt64LE(layout.commitOffset) & 0xffffffffn) : page.readUInt32LE(layout.commitOffset);
  const size = commitWord % 2 ** 30 & COMMIT_MASK;
  const end = layout.dataOffset + size;
  if (end > page.length) {
    throw new HalfOpenError(ErrorCodes.BAD_PAGE, `Cannot decode ring-buffer page: commit length ${size} exceeds page size ${page.length}`);
  }
  let lost = 0;
  if (commitWord >= RB_MISSED_EVENTS || (commitWord & RB_MISSED_STORED) !== 0) {
    lost = -1;
    if ((commitWord & RB_MISSED_STORED) !== 0 && end + layout.commitSize <= page.length) {
      lost = layout.commitSize === 8 ? Number(page.readBigUInt64LE(end)) : page.readUInt32LE(end);
    }
  }
  let ts = base;
  let pos = layout.dataOffset;
  while (pos + 4 <= end) {
    const header = page.readUInt32LE(pos);
    const typeLen = header & 0x1f;
    const delta = header >>> 5;
    if (typeLen === TYPE_PADDING) {
      // time_delta 0: the rest of the page is empty. Otherwise a discarded
      // event (a filter rejected it after reserving): skip array[0] bytes.
      if (delta === 0 || pos + 8 > end) break;
      ts += delta;
      pos += 4 + page.readUInt32LE(pos + 4);
      continue;
    }
    if (typeLen === TYPE_TIME_EXTEND) {
      ts += page.readUInt32LE(pos + 4) * 2 ** TS_SHIFT + delta;
      pos += 8;
      continue;
    }
    if (typeLen === TYPE_TIME_STAMP) {
      // Absolute stamp of the low 59 bits; the page's top bits complete it.
      const low = page.readUInt32LE(pos + 4) * 2 ** TS_SHIFT + delta;
      const top = Math.floor(base / 2 ** 59) * 2 ** 59;
      ts = top + low;
      pos += 8;
      continue;
    }
    ts += delta;
    let length: number;
    let payload: number;
    if (typeLen === 0) {
      length = page.readUInt32LE(pos + 4) - 4;
      payload = pos + 8;
    } else {
      length = typeLen * 4;
      payload = pos + 4;
    }
    if (length <= 0 || payload + length > end) {
      throw new HalfOpenError(ErrorCodes.BAD_PAGE, `Cannot decode ring-buffer page: event at offset ${pos} has length ${length} past the data end ${end}`);
    }
    visit(ts, payload, length);
    pos = payload + length;
  }
  return lost;
}
