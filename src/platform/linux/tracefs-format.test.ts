import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEventFormat, parseHeaderPage, parseSymbols } from "./tracefs-format.js";
import { makeRecordDecoder } from "./tracefs-decode.js";
import { HalfOpenError } from "../../errors.js";
import { allTracefsFormats, fixtureText, tracefsFormat } from "../../../test/support/fixtures.js";

test("parses the captured inet_sock_set_state format", () => {
  const f = tracefsFormat("sock__inet_sock_set_state");
  assert.equal(f.name, "inet_sock_set_state");
  assert.ok(f.id > 0);
  assert.deepEqual(f.fields.get("skaddr"), { name: "skaddr", type: "const void *", offset: 8, size: 8, signed: false });
  assert.equal(f.fields.get("daddr_v6")?.arrayLength, 16);
  assert.equal(f.fields.get("daddr_v6")?.offset, 56);
  assert.equal(f.fields.get("common_pid")?.signed, true);
});

test("parses __data_loc and bool fields (sched events)", () => {
  assert.equal(tracefsFormat("sched__sched_process_exec").fields.get("filename")?.type, "__data_loc char[]");
  assert.equal(tracefsFormat("sched__sched_process_exit").fields.get("comm")?.size, 16);
});

test("parses header_page", () => {
  assert.deepEqual(parseHeaderPage(fixtureText("linux/tracefs/header_page")), {
    timestampOffset: 0,
    commitOffset: 8,
    commitSize: 8,
    dataOffset: 16,
    dataSize: 4080,
  });
});

test("malformed formats give HalfOpenError with a stable code", () => {
  for (const bad of ["", "name: x\n", "garbage\nID: 3\n", "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:x;"]) {
    assert.throws(() => parseEventFormat(bad), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_FORMAT");
  }
  assert.throws(() => parseHeaderPage("field: u64 timestamp; offset:0; size:8; signed:0;"), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_FORMAT");
});

test("the drop reasons' names come from kfree_skb's print fmt; the decoder names a record's reason", () => {
  const text = fixtureText("linux/tracefs/skb__kfree_skb.format");
  const symbols = parseSymbols(text);
  assert.equal(symbols.get(12), "NETFILTER_DROP");
  assert.equal(symbols.get(2), "NOT_SPECIFIED");
  assert.ok(symbols.size > 50, `${symbols.size} reasons`);
  const f = { ...parseEventFormat(text), symbols };
  const decode = makeRecordDecoder({ ...allTracefsFormats(), kfreeSkb: f });
  const buf = Buffer.alloc(64);
  buf.writeUInt16LE(f.id, f.fields.get("common_type")!.offset);
  buf.writeInt32LE(4242, f.fields.get("common_pid")!.offset);
  buf.writeUInt32LE(12, f.fields.get("reason")!.offset);
  assert.deepEqual(decode(buf, 0, 77), { kind: "drop", timestampNs: 77, tid: 4242, inInterrupt: false, reason: "NETFILTER_DROP" });
  assert.equal(parseSymbols("print fmt: \"%d\", REC->x").size, 0);
});
