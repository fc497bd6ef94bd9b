import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NoteLog } from "./note-log.js";

describe("NoteLog", () => {
  it("two readers with their own cursors each get every note", () => {
    const log = new NoteLog();
    let a = 0;
    let b = 0;
    log.add("one");
    const ra = log.since(a);
    a = ra.next;
    assert.deepEqual(ra.notes, ["one"]);
    log.add("two");
    const rb = log.since(b);
    b = rb.next;
    assert.deepEqual(rb.notes, ["one", "two"]);
    assert.deepEqual(log.since(a).notes, ["two"]);
    assert.deepEqual(log.since(b).notes, []);
  });

  it("keeps the newest max notes; a slow reader skips the dropped ones", () => {
    const log = new NoteLog(3);
    for (let i = 0; i < 5; i++) log.add(`n${i}`);
    assert.equal(log.count, 5);
    assert.deepEqual(log.since(0), { notes: ["n2", "n3", "n4"], next: 5 });
    assert.deepEqual(log.since(4), { notes: ["n4"], next: 5 });
  });
});
