import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCmdline, parseNamespaceLink, parsePasswd, parseProcStatStartTime, parseProcStatus } from "./procfs-parse.js";
import { fixture, fixtureText } from "../../../test/support/fixtures.js";

test("status: a comm with parentheses and spaces", () => {
  const s = parseProcStatus(fixtureText("linux/proc/status-weird-comm.txt"));
  assert.equal(s?.name, "we) ird (name");
  assert.ok((s?.tgid ?? 0) > 0);
  assert.equal(s?.uid, 0);
});

test("status of a thread gives its thread group", () => {
  const text = fixtureText("linux/proc/status-thread.txt");
  const s = parseProcStatus(text);
  const pid = Number(/^Pid:\s*(\d+)/m.exec(text)?.[1]);
  assert.ok(s && s.tgid !== pid, "a non-leader thread's Tgid differs from its Pid");
  assert.equal(s?.name, "node");
});

test("stat: start time is found past a comm containing ') ('", () => {
  const text = fixtureText("linux/proc/stat-weird-comm.txt");
  const start = parseProcStatStartTime(text);
  assert.ok(start !== undefined && start > 0);
  // field 22 counted by hand from the captured line
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  assert.equal(start, Number(fields[19]));
  assert.equal(parseProcStatStartTime("garbage"), undefined);
});

test("cmdline, namespace links, passwd", () => {
  assert.deepEqual(parseCmdline(fixture("linux/proc/cmdline-node.bin")), ["node", "-e", "setTimeout(()=>{},1500)"]);
  assert.deepEqual(parseCmdline(Buffer.alloc(0)), []);
  assert.deepEqual(parseCmdline("scanner\0\0\0\0\0\0"), ["scanner"], "NUL padding of a rewritten title");
  assert.deepEqual(parseCmdline("cmd\0\0x\0"), ["cmd", "", "x"], "an empty argument inside is kept");
  assert.equal(parseNamespaceLink("net:[4026531840]"), 4026531840);
  assert.equal(parseNamespaceLink("nonsense"), undefined);
  const users = parsePasswd(fixtureText("linux/proc/passwd.txt"));
  assert.equal(users.get(0), "root");
});
