import { test } from "node:test";
import assert from "node:assert/strict";
import { HalfOpenError } from "../errors.js";
import type { ConnectionEvent, ProcessInfo } from "./events.js";
import { RecordDecoder, RecordEncoder } from "./record-format.js";

const header = { source: "tracefs", exact: true, startedAtWall: 1000, wallOffsetMs: 5 };

function roundTrip(lines: string[]) {
  const dec = new RecordDecoder();
  return { items: lines.flatMap((l) => dec.line(l)), dec };
}

test("events and ticks come back as they went in; process details are written once per process", () => {
  const enc = new RecordEncoder(header);
  const p: ProcessInfo = { pid: 42, name: "scan", cmdline: ["./scan", "198.18.0.0/15"], startTime: 7 };
  const events: ConnectionEvent[] = [
    { type: "connect", time: 1, sock: "a", pid: 42, family: 4, src: { address: "198.18.0.1", port: 0 }, dst: { address: "198.18.0.2", port: 9 }, process: p },
    { type: "connect", time: 2, sock: "b", pid: 42, family: 4, src: { address: "198.18.0.1", port: 0 }, dst: { address: "198.18.0.3", port: 9 }, process: p, seenAtStart: true },
    { type: "leave", time: 3, sock: "a", newState: 7, srcPort: 40000, inInterrupt: true },
    // A SYN the process wrote itself (raw IP socket), and its retransmission.
    { type: "connect", time: 3.5, sock: "raw:1", pid: 42, family: 4, src: { address: "198.18.0.1", port: 5555 }, dst: { address: "198.18.0.4", port: 23 }, process: p, via: "raw" },
    { type: "retransmit", time: 3.6, sock: "raw:1" },
    { type: "exit", time: 4, pid: 42, name: "scan" },
  ];
  const lines = [enc.header(), ...enc.events(events), enc.tick(5), enc.end(6)];
  assert.equal(lines.filter((l) => l.startsWith('{"t":"p"')).length, 1, "one process line for two connects");
  const { items, dec } = roundTrip(lines);
  assert.deepEqual(dec.header, { format: "halfopen-record", version: 1, ...header });
  assert.deepEqual(items, [...events.map((event) => ({ kind: "event", event })), { kind: "tick", time: 5 }, { kind: "end", time: 6 }]);
});

test("a process whose name was filled in later is written again, so a replay sees the name the core saw", () => {
  const enc = new RecordEncoder(header);
  const p: ProcessInfo = { pid: 9, name: "?", partial: true };
  const c = (time: number): ConnectionEvent => ({ type: "connect", time, sock: `s${time}`, pid: 9, family: 4, src: { address: "198.18.0.1", port: 0 }, dst: { address: "198.18.0.2", port: 9 }, process: p });
  const first = enc.events([c(1)]);
  p.name = "bash";
  const second = enc.events([c(2)]);
  const { items } = roundTrip([enc.header(), ...first, ...second]);
  assert.deepEqual(items.map((i) => (i.kind === "event" && i.event.type === "connect" ? i.event.process.name : "")), ["?", "bash"]);
});

test("not a record, a newer version, an unknown process ref: HalfOpenError BAD_RECORD with the line", () => {
  const code = (f: () => unknown) => {
    try {
      f();
      return "no error";
    } catch (e) {
      return e instanceof HalfOpenError ? `${e.code}: ${e.message}` : String(e);
    }
  };
  assert.match(code(() => new RecordDecoder().line("hello")), /^HALFOPEN_BAD_RECORD: Cannot read the record at line 1: not JSON/);
  assert.match(code(() => new RecordDecoder().line('{"format":"other"}')), /not a halfopen record/);
  assert.match(code(() => new RecordDecoder().line('{"format":"halfopen-record","version":2}')), /record version 2 is newer/);
  const dec = new RecordDecoder();
  dec.line(new RecordEncoder(header).header());
  assert.match(code(() => dec.line('{"t":"e","e":{"type":"connect","time":1,"sock":"a","pid":7,"family":4,"src":{"address":"127.0.0.1","port":1},"dst":{"address":"127.0.0.1","port":9},"process":3}}')), /line 2: the connect names process ref 3/);
  assert.match(code(() => dec.line('{"t":"e","e":{"type":"connect","time":1,"process":3}}')), /line 3: the connect event has no valid "sock"/);
  assert.match(code(() => dec.line('{"t":"e","e":{"type":"connect","time":1,"sock":"a","pid":7,"family":4,"src":{"address":"127.0.0.1","port":1},"dst":{"address":"127.0.0.1","port":9},"process":1,"via":"carrier-pigeon"}}')), /has no valid "via"/);
  assert.deepEqual(dec.line('{"t":"e","e":{"type":"from-the-future","time":1}}'), [], "unknown event types are skipped");
  assert.deepEqual(dec.line('{"t":"future-kind"}'), [], "unknown line types are skipped");
});
