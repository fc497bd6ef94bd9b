import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodePage } from "./ring-buffer.js";
import { parseHeaderPage } from "./tracefs-format.js";
import { makeRecordDecoder, type TracefsRecord } from "./tracefs-decode.js";
import { allTracefsFormats, fixture, fixtureText } from "../../../test/support/fixtures.js";

function decodeFixture(): TracefsRecord[] {
  const page = fixture("linux/tracefs/cpu1-page0.bin");
  const decode = makeRecordDecoder(allTracefsFormats());
  return decodePage(page, parseHeaderPage(fixtureText("linux/tracefs/header_page"))).records.flatMap((r) => decode(page, r.offset, r.timestampNs) ?? []);
}

test("the captured workload decodes to the expected transitions", () => {
  const recs = decodeFixture();
  const summary = recs.map((r) => (r.kind === "state" ? `${r.family} ${r.daddr}:${r.dport} ${r.oldState}->${r.newState}` : r.kind));
  assert.deepEqual(summary, [
    "4 198.18.0.1:8080 7->2",
    "4 198.18.0.1:8080 2->1",
    "4 198.18.0.1:7 7->2",
    "reset",
    "4 198.18.0.1:7 2->7",
    "4 198.18.0.1:9 7->2",
    "6 ::1:9 7->2",
    "retransmit",
    "retransmit",
    "4 198.18.0.1:9 2->7",
    "6 ::1:9 2->7",
  ]);
});

test("records carry the socket key, the connecting thread and the assigned port", () => {
  const recs = decodeFixture();
  const first = recs[0];
  assert.ok(first && first.kind === "state");
  assert.match(first.sock, /^ffff[0-9a-f]{12}$/);
  assert.equal(first.sport, 0, "no local port yet at SYN_SENT");
  assert.ok(first.tid > 0);
  const est = recs[1];
  assert.ok(est && est.kind === "state");
  assert.equal(est.sock, first.sock);
  assert.ok(est.sport > 0);
  const reset = recs[3];
  const refusedStart = recs[2];
  assert.ok(reset?.kind === "reset" && refusedStart?.kind === "state");
  assert.equal(reset.sock, refusedStart.sock);
  const v6 = recs[6];
  assert.ok(v6?.kind === "state" && v6.family === 6 && v6.saddr === "::1");
});

test("events of an unknown type decode to undefined", () => {
  const decode = makeRecordDecoder(allTracefsFormats());
  const b = Buffer.alloc(64);
  b.writeUInt16LE(65535, 0);
  assert.equal(decode(b, 0, 0), undefined);
});

test("sched_process_exit decodes comm and group_dead", () => {
  const formats = allTracefsFormats();
  const f = formats.processExit;
  assert.ok(f);
  const b = Buffer.alloc(64);
  b.writeUInt16LE(f.id, 0);
  b.write("worm\0", f.fields.get("comm")?.offset ?? 0);
  b.writeInt32LE(1234, f.fields.get("pid")?.offset ?? 0);
  b.writeUInt8(1, f.fields.get("group_dead")?.offset ?? 0);
  assert.deepEqual(makeRecordDecoder(formats)(b, 0, 5), { kind: "exit", timestampNs: 5, tid: 1234, name: "worm", groupDead: true });
});

test("socket and peer addresses come through the decoder's caches unchanged: any pointer, any address, again and again", () => {
  const formats = allTracefsFormats();
  const s = formats.setState;
  const field = (n: string) => s.fields.get(n) as { offset: number };
  const decode = makeRecordDecoder(formats);
  const record = (hi: number, lo: number, daddr: number[]) => {
    const b = Buffer.alloc(128);
    b.writeUInt16LE(s.id, field("common_type").offset);
    b.writeUInt32LE(lo, field("skaddr").offset);
    b.writeUInt32LE(hi, field("skaddr").offset + 4);
    b.writeUInt16LE(2, field("family").offset);
    b.writeInt32LE(7, field("oldstate").offset);
    b.writeInt32LE(2, field("newstate").offset);
    Buffer.from(daddr).copy(b, field("daddr").offset);
    return b;
  };
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.oneof(u32, fc.constantFrom(0, 1, 0xffff8881, 0xffff8882, 0x7fff8881, 0xffffffff)), u32, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })), { minLength: 1, maxLength: 40 }), (pointers) => {
      // Each twice: the second read is the cache's.
      for (const [hi, lo, daddr] of [...pointers, ...pointers]) {
        const r = decode(record(hi, lo, daddr), 0, 1);
        assert.ok(r?.kind === "state");
        // The key as it has always been made: the high word in hex, then the low word as 8 hex digits.
        assert.equal(r.sock, hi.toString(16) + lo.toString(16).padStart(8, "0"));
        assert.equal(r.daddr, daddr.join("."));
      }
    }),
  );
});
