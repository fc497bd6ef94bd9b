import { test } from "node:test";
import assert from "node:assert/strict";
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
