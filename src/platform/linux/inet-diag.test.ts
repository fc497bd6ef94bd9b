import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fixture, fixtureText } from "../../../test/support/fixtures.js";
import type { SocketRow } from "../../core/socket-table.js";
import { TcpState, tcpStateName } from "../../core/tcp-state.js";
import { ALL_STATES_MASK, parseInetDiag, stateMask } from "./inet-diag.js";
import { parseProcNetTcp } from "./proc-net-tcp.js";

const NS = 4026532247; // the lab namespace of the capture (README.md)

/** The fields both sources give, in a stable order, for comparing sets of rows. */
const facts = (r: SocketRow) => JSON.stringify([r.key, r.family, r.local, r.remote, tcpStateName(r.state), r.uid, r.inode ?? 0, r.netns, r.retransmits]);

test("a sock_diag dump captured here reads as the /proc/net/tcp{,6} captured at the same moment", () => {
  const diag = parseInetDiag(fixture("linux/sock_diag/lab-all.bin"), { netns: NS });
  assert.equal(diag.done, true);
  assert.equal(diag.badMessages, 0);
  assert.equal(diag.errno, undefined);
  const proc = [
    ...parseProcNetTcp(fixtureText("linux/sock_diag/lab-net-tcp.txt"), { netns: NS }).rows,
    ...parseProcNetTcp(fixtureText("linux/sock_diag/lab-net-tcp6.txt"), { netns: NS }).rows,
  ];
  assert.equal(diag.rows.length, 10);
  assert.deepEqual(diag.rows.map(facts).sort(), proc.map(facts).sort());
});

test("the dump agrees with ss -tanie of the same moment: state, both ends and inode of every socket", () => {
  const ssState: Record<string, string> = { "SYN-SENT": "SYN_SENT", ESTAB: "ESTABLISHED", LISTEN: "LISTEN", "TIME-WAIT": "TIME_WAIT" };
  const ss = fixtureText("linux/sock_diag/lab-ss-tanie.txt")
    .split("\n")
    .map((l) => /^(\S+)\s+\d+\s+\d+\s+(\S+):(\d+|\*)\s+(\S+):(\d+|\*)\s.*\bino:(\d+)/.exec(l))
    .filter((m) => m !== null)
    .map((m) => JSON.stringify([ssState[m[1] as string], m[2]?.replace(/^\[|\]$/g, ""), Number(m[3]), m[4]?.replace(/^\[|\]$/g, ""), m[5] === "*" ? 0 : Number(m[5]), Number(m[6])]));
  const rows = parseInetDiag(fixture("linux/sock_diag/lab-all.bin")).rows.map((r) =>
    JSON.stringify([tcpStateName(r.state), r.local.address, r.local.port, r.remote.address, r.remote.port, r.inode ?? 0]),
  );
  // ss prints a listener's peer as 0.0.0.0:* or [::]:*, the kernel's zero address and port.
  assert.equal(ss.length, 10);
  assert.deepEqual(rows.sort(), ss.sort());
});

test("a SYN_SENT-only dump (state filter in the kernel) has exactly the half-open rows of the full one", () => {
  const all = parseInetDiag(fixture("linux/sock_diag/lab-all.bin"), { netns: NS }).rows;
  const syn = parseInetDiag(fixture("linux/sock_diag/lab-syn-sent.bin"), { netns: NS });
  assert.equal(syn.done, true);
  assert.deepEqual(syn.rows.map(facts).sort(), all.filter((r) => r.state === TcpState.SYN_SENT).map(facts).sort());
  assert.deepEqual(syn.rows.map((r) => `${r.remote.address}:${r.remote.port}`).sort(), ["198.18.0.1:10000", "198.18.0.1:9", "::1:9"]);
  for (const r of syn.rows) assert.equal(r.retransmits, 1, "ss said retrans:1/1 for each");
  assert.equal(stateMask([TcpState.SYN_SENT]), 4);
  assert.equal(ALL_STATES_MASK >>> 0, 0xffffffff);
});

test("TIME_WAIT has no inode: keyed by its 4-tuple, no inode field", () => {
  const tw = parseInetDiag(fixture("linux/sock_diag/lab-all.bin"), { netns: 7 }).rows.find((r) => r.state === TcpState.TIME_WAIT);
  assert.ok(tw);
  assert.equal(tw.inode, undefined);
  assert.equal(tw.key, `7:198.18.0.1:${tw.local.port}>198.18.0.1:8080`);
});

test("an error message ends the dump with the kernel's errno", () => {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(2, 4); // NLMSG_ERROR
  b.writeInt32LE(-2, 16); // -ENOENT: no tcp_diag
  const r = parseInetDiag(b);
  assert.deepEqual({ errno: r.errno, done: r.done, rows: r.rows.length }, { errno: 2, done: true, rows: 0 });
});

test("every truncation of a captured dump reads without throwing, never more rows, and is never 'done' before its end", () => {
  const whole = fixture("linux/sock_diag/lab-all.bin");
  const full = parseInetDiag(whole).rows.length;
  for (let n = 0; n < whole.length; n++) {
    const r = parseInetDiag(whole.subarray(0, n));
    assert.ok(r.rows.length <= full);
    assert.equal(r.done, false, `cut at ${n} of ${whole.length}`);
  }
});

test("random bytes never throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const r = parseInetDiag(bytes);
      assert.ok(r.rows.length <= Math.floor(bytes.length / 88));
    }),
    { numRuns: 2000 },
  );
});
