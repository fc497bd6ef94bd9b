import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodePage } from "./ring-buffer.js";
import { parseHeaderPage } from "./tracefs-format.js";
import { HalfOpenError } from "../../errors.js";
import { fixture, fixtureText } from "../../../test/support/fixtures.js";

const layout = parseHeaderPage(fixtureText("linux/tracefs/header_page"));

test("decodes the captured page: 11 records in time order", () => {
  const page = fixture("linux/tracefs/cpu1-page0.bin");
  const { records, lost } = decodePage(page, layout);
  assert.equal(lost, 0);
  assert.equal(records.length, 11);
  for (let i = 1; i < records.length; i++) assert.ok((records[i] as { timestampNs: number }).timestampNs >= (records[i - 1] as { timestampNs: number }).timestampNs);
  assert.ok(records.every((r) => r.offset >= 16 && r.offset + r.length <= page.length));
});

/** Builds a page from event words, for encodings the capture did not contain. */
function page(ts: number, words: number[], flags = 0, lostStored?: number): Buffer {
  const b = Buffer.alloc(4096);
  b.writeBigUInt64LE(BigInt(ts), 0);
  const size = words.length * 4;
  b.writeBigUInt64LE(BigInt(size + flags), 8);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, 16 + i * 4));
  if (lostStored !== undefined) b.writeBigUInt64LE(BigInt(lostStored), 16 + size);
  return b;
}
const hdr = (typeLen: number, delta: number) => ((delta << 5) | typeLen) >>> 0;

test("time extend, small and large events, discarded padding", () => {
  const words = [
    hdr(2, 100), 0xaaaa, 0xbbbb, // small event, 8 bytes, +100 ns
    hdr(30, 5), 2, // time extend: 2 << 27 | 5
    hdr(0, 7), 4 + 8, 0xcccc, 0xdddd, // long form: array[0] = 12 (length + 4)
    hdr(29, 3), 8, 0xeeee, // discarded event: array[0] = 8 bytes after the header, +3 ns
    hdr(1, 1), 0xffff,
  ];
  const { records } = decodePage(page(1000, words), layout);
  assert.deepEqual(
    records.map((r) => [r.timestampNs, r.offset, r.length]),
    [
      [1100, 20, 8],
      [1100 + 2 * 2 ** 27 + 5 + 7, 44, 8],
      [1100 + 2 * 2 ** 27 + 5 + 7 + 3 + 1, 68, 4],
    ],
  );
});

test("padding with no delta ends the page", () => {
  const { records } = decodePage(page(0, [hdr(1, 1), 1, hdr(29, 0), 0, hdr(1, 1), 2]), layout);
  assert.equal(records.length, 1);
});

test("lost events: stored count, or -1 when the kernel did not store it", () => {
  assert.equal(decodePage(page(0, [hdr(1, 1), 1], 2 ** 31 + 2 ** 30, 17), layout).lost, 17);
  assert.equal(decodePage(page(0, [hdr(1, 1), 1], 2 ** 31), layout).lost, -1);
});

test("a record running past the data end is a BAD_PAGE error", () => {
  assert.throws(
    () => decodePage(page(0, [hdr(5, 1), 1]), layout),
    (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_PAGE" && /past the data end/.test(e.message),
  );
  assert.throws(() => decodePage(Buffer.alloc(8), layout), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_PAGE");
});

test("fuzz: any bytes decode or fail with HalfOpenError, never another exception", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), fc.integer({ min: 0, max: 4080 }), (bytes, commit) => {
      const b = Buffer.alloc(Math.max(bytes.length, 16));
      Buffer.from(bytes).copy(b);
      if (b.length >= 16) b.writeBigUInt64LE(BigInt(Math.min(commit, b.length - 16)), 8);
      try {
        const { records } = decodePage(b, layout);
        for (const r of records) assert.ok(r.offset + r.length <= b.length);
      } catch (e) {
        if (!(e instanceof HalfOpenError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
