import { setOutputWidth } from "../sanitize.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIncident, formatIncidentOpen, formatSummary, formatTotals, formatVerdict } from "./format.js";
import { HalfOpenMonitor, type MonitorOutput } from "../../core/monitor.js";
import type { IncidentReport } from "../../core/incident.js";
import { burst, connect, proc, sock } from "../../../test/support/events.js";

// These tests check lines fitted to an 80-column terminal (`--width 80`); a pipe is never cut (cli.test.ts).
setOutputWidth(80);

function incident(): { open: IncidentReport; closed: IncidentReport } {
  const m = new HalfOpenMonitor({ limit: 10, wallOffsetMs: Date.UTC(2026, 10, 21, 8, 0, 0) });
  const long = proc(123456, "a-very-long-process-name\x1b[2J", { user: "someverylongusername", cmdline: ["/usr/bin/x", "--flag=" + "y".repeat(200), "\u202etxt.exe"] });
  const out: MonitorOutput[] = [];
  for (const e of burst(0, long, 30)) out.push(...m.handle(e));
  out.push(...m.handle(connect(40, proc(7, "v6"), sock(), { address: "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", port: 65535 })));
  m.handle({ type: "lost", time: 41, count: 3 });
  const open = (out.find((o) => o.type === "incident-open") as { incident: IncidentReport }).incident;
  const closed = (m.flush(5000)[0] as { incident: IncidentReport }).incident;
  return { open, closed };
}

test("every line of the text output fits in 79 columns, whatever the names", () => {
  const { open, closed } = incident();
  const m = new HalfOpenMonitor({ limit: 1 });
  for (const e of burst(0, proc(99999999, "x".repeat(15)), 5)) m.handle(e);
  m.handle({ type: "lost", time: 5, count: 123456 });
  const text = [formatIncidentOpen(open), formatIncident(closed), formatSummary(m.summary(10), 0), formatTotals(m.totals())].join("\n");
  for (const line of text.split("\n")) assert.ok(line.length <= 79, `too wide (${line.length}): ${line}`);
});

test("the incident block names the process, escapes what it controls, and warns of losses", () => {
  const { closed } = incident();
  const text = formatIncident(closed);
  assert.match(text, /INCIDENT 1 closed after 5\.0s: peak 31 half-open \(limit 10\)/);
  assert.match(text, /123456 {3}somever… a-very-long-pr…/);
  assert.match(text, /a-very-long-pr…/);
  assert.match(text, /cmd: \/usr\/bin\/x --flag=y/);
  assert.ok(!text.includes("\x1b") && !text.includes("\u202e"), "no raw escape or bidi override");
  assert.match(text, /WARNING: 3 events lost while open/);
  assert.match(text, /\[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff\]:65535/);
  assert.match(text, /31 attempts to 31 destinations on 2 hosts: 0 est, 0 ref, 0 fail, 31 pend/);
});

test("the summary names the top process, but gives its room to an open incident", () => {
  const quiet = new HalfOpenMonitor({ limit: 10 });
  for (const e of burst(0, proc(4242, "scanner"), 3)) quiet.handle(e);
  assert.match(formatSummary(quiet.summary(1000), 0), /half-open 3 \(max 3\) \| 3 new: 0 est 0 ref 0 fail \| top scanner\[4242\] 3$/);
  const busy = new HalfOpenMonitor({ limit: 1 });
  for (const e of burst(0, proc(4242, "scanner"), 3)) busy.handle(e);
  assert.match(formatSummary(busy.summary(1000), 0), /\| INCIDENT 1$/);
});

test("a scanner verdict line fits 79 columns and shows a hostile name escaped", () => {
  const evidence = { attempts: 9, firstContacts: 9, firstContactFailures: 4, resolvedFirstContacts: 0, failureRatio: 1, distinctDestinations: 9, distinctHosts: 3, distinctPorts: 2, newDestinationsPerSecond: 9, throttleQueue: 8, throttlePeak: 8, trwRatio: 256, reverseRatio: 256, secondsToVerdict: 1.2 };
  const base = { type: "verdict" as const, time: 0, pid: 42, processKey: "42", verdict: "scanner" as const, test: "trw" as const, firstContacts: 4, evidence };
  const plain = formatVerdict({ ...base, name: "worm", trusted: false }, Date.UTC(2026, 0, 1));
  assert.match(plain, /^\d\d:\d\d:\d\d SCANNER worm\[42\] by TRW: 4 of 4 first contacts failed in 1\.2s, 3 hosts$/, "the evidence that fits");
  assert.ok(plain.length <= 79);
  const hostile = formatVerdict({ ...base, name: "\x1b[2Jevil\u202e", trusted: true }, 0);
  assert.ok(hostile.length <= 79, hostile);
  assert.match(hostile, /scanner-like \(trusted\) \\x1b\[2Jevil\\u202e\[42\] by TRW/);
  assert.ok(!hostile.includes("\x1b"), "no raw escape byte");
});

test("a process that sent SYNs without connect() says how, in the incident block", () => {
  const m = new HalfOpenMonitor({ limit: 2 });
  const nmap = proc(4242, "nmap", { cmdline: ["nmap", "-sS", "198.18.1.2"] });
  for (let i = 0; i < 3; i++) m.handle({ ...connect(i, nmap, `packet:${i}`, { address: "198.18.1.2", port: 10_000 + i }), via: "packet" });
  m.handle(connect(3, proc(7, "curl"), sock(), { address: "198.18.1.2", port: 80 }));
  const closed = (m.flush(100)[0] as { incident: IncidentReport }).incident;
  assert.equal(closed.processes.find((p) => p.pid === 4242)?.via, "packet");
  assert.equal(closed.processes.find((p) => p.pid === 7)?.via, undefined);
  const text = formatIncident(closed);
  assert.match(text, /nmap[^\n]*\n[^\n]*cmd: nmap -sS 198\.18\.1\.2\n\s+sent: SYNs without connect\(\), via a packet socket\n/);
  assert.equal(text.match(/sent: /g)?.length, 1, "curl used connect()");
  const totals = m.totals().processes.find((p) => p.pid === 4242);
  assert.deepEqual([totals?.via, totals?.syns], ["packet", 3]);
  assert.deepEqual(m.counters().rawSyns, { raw: 0, packet: 3 });
});
